"""Simulate coarse-first streams with refinement bits (issue 12, "bytes where they count").

A value is first sent coarse (its 64-level level q mapped to c = (q + 2^s - 1) >> s, so level 0
stays exact) and later refined by s raw bits (interval halving), the j-th at the value's
priority minus j*D. Rates from Huffman tables of coarse levels with contexts built on the training
split (as export.py), PSNR through the bundle's decoder. Compares with the bundle's own tables.

  python -m limitnet_train.refine_sim --bundle ../models/limitnet-lite --data ../data \
      --photos ../out/val-levels/original --config s1d0 --config s1d62 ...
"""

import argparse
import glob
import os
import random

import numpy as np
import torch
from PIL import Image

from .data import PhotoSet
from .export import context_edges, huffman_lengths, latent_histograms, quantized_latents, value_contexts
from .model import CHANNELS, coarse, coarse_interval, item_keys, priorities_at, refined_levels
from .resilience import load_bundle

LEVELS = 64
# Frame header + saliency map at 224x224 (docs/bitstream.md): version 3's item count takes one
# LEB128 byte more than version 2's value count.
HEADER = {False: 44, True: 45}


def coarse_tables(model, images, shift):
    """(context edges, code lengths [C, contexts, coarse levels]) as export.py makes them."""
    hist = latent_histograms(model, images, LEVELS, shift)
    lengths = torch.tensor([[huffman_lengths(hist[ch, k].tolist()) for k in range(hist.shape[1])]
                            for ch in range(CHANNELS)])
    return context_edges(hist.shape[2]), lengths


def simulate(model, images, tables, shift, delay, budgets, k):
    """Reconstructions [budgets][N,3,H,W] of a coarse-first stream (shift 0: the plain stream).
    Item order and reconstruction are training's (`model.item_keys`, `model.refined_levels`);
    the budget decides how many items fit."""
    edges, lengths = tables
    with torch.no_grad():
        q, sal = quantized_latents(model, images, LEVELS)
    n, C, h, w = q.shape
    c = coarse(q, shift)
    ctx = value_contexts(c, sal, edges)
    chan = torch.arange(C).view(1, C, 1, 1).expand_as(q)
    coarse_bits = lengths[chan, ctx, c]  # [N,C,h,w]
    prio = priorities_at(sal, C, k)
    stages = shift + 1
    # Bits of each item: the coarse level's code; refinement stage j one bit while the interval
    # left after j-1 halvings holds more than one level (a frame spends none on an exact one).
    lo, hi = coarse_interval(c, shift, LEVELS)
    bits = [coarse_bits.reshape(n, -1)]
    for j in range(1, stages):
        width = ((hi - lo + 1) + (1 << (j - 1)) - 1) >> (j - 1)
        bits.append((width > 1).long().reshape(n, -1))
    bits = torch.stack(bits, 1).reshape(n, -1)  # [N, stages * V], item numbers j*V + i
    order = torch.argsort(item_keys(prio, stages, delay).reshape(n, -1), dim=1, descending=True)
    cum = torch.cumsum(torch.gather(bits, 1, order), 1)
    scale = model.latent_max.view(1, -1, 1, 1) / (LEVELS - 1)
    out = []
    for budget in budgets:
        counts = (cum <= (budget - HEADER[shift > 0]) * 8).sum(1)
        levels = refined_levels(q, prio, counts, shift, delay, LEVELS)
        with torch.no_grad():
            out.append(model.decoder(levels * scale).clamp(0, 1))
    return out


def to_arrays(images):
    return list((images.permute(0, 2, 3, 1) * 255).round().byte().numpy())


def psnr(a, b):
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(1 / mse.clamp_min(1e-10))).mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--data", default="data")
    ap.add_argument("--photos", action="append", required=True, help="folder of 224x224 PNGs (repeatable)")
    ap.add_argument("--config", action="append", default=[], help="s<shift>d<delay>, e.g. s1d62")
    ap.add_argument("--psnr-only", action="store_true", help="skip the classifiers")
    ap.add_argument("--budgets", default="256,384,512,768,1024,1536,2048,3072,4096")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load_bundle(args.bundle).eval()
    budgets = [int(b) for b in args.budgets.split(",")]
    train = PhotoSet(args.data, "train")
    rng = random.Random(7)
    crops = [train.center_crops(224)] + [train.sample(32, 224, rng)[0] for _ in range(12)]
    table_images = torch.cat(crops)
    configs = [(0, 0)] + [tuple(int(v) for v in cfg[1:].split("d")) for cfg in args.config]
    from .heldout import load_lite0, top5
    from .train import imagenet_norm, load_teacher

    classifiers = {} if args.psnr_only else {
        "mnv2": (load_teacher(), imagenet_norm), "lite0": (load_lite0(), lambda x: (x - 0.5) / 0.5)}
    tables = {}
    for shift, _ in configs:
        if shift not in tables:
            tables[shift] = coarse_tables(model, table_images, shift)
    for folder in args.photos:
        names = sorted(glob.glob(os.path.join(folder, "*.png")))
        images = torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()).permute(2, 0, 1)
                              for p in names]).float() / 255
        print(f"{folder}: {len(names)} photos; PSNR dB / Lite0 agree@1 / agree@5 / MobileNetV2 agree@5 "
              f"at {budgets}", flush=True)
        refs = {k: top5(m, norm, to_arrays(images))[:, 0] for k, (m, norm) in classifiers.items()}
        for shift, delay in configs:
            recs = simulate(model, images, tables[shift], shift, delay, budgets, model.saliency_weight)
            cells = []
            for r in recs:
                agree = []
                for k, (m, norm) in classifiers.items():
                    t5 = top5(m, norm, to_arrays(r))
                    agree.append(((t5[:, 0] == refs[k]).mean(), (t5 == refs[k][:, None]).any(1).mean()))
                cells.append(f"{psnr(r, images):.2f}" + (f"/{agree[1][0]:.2f}/{agree[1][1]:.2f}/{agree[0][1]:.2f}"
                                                         if agree else ""))
            print(f"  s{shift}d{delay}: " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
