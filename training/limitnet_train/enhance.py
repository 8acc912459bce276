"""Experiment (issue 12, "no ceiling"): a second latent layer on top of a frozen bundle.

The shipped stream is one 12 x H/8 x W/8 latent at 64 levels; on whole held-out photos the
full frame (~4.3 KB) decodes to ~25.2 dB and nothing more can be sent. This trains what a
second layer would add, with the bundle's encoder, saliency branch and decoder frozen:

* sender: `Enhancer`, conv 3->16 k4 s4 (the lite stem's shape), leaky ReLU, conv 16->C2 1x1:
  a C2 x H/4 x W/4 latent, 2.8 M MAC and ~900 parameters at 224x224 (lite + this: 8.3 M MAC,
  inside the 10 M MAC sender budget);
* receiver: `Refiner`, the base reconstruction pixel-unshuffled by 4 (48 channels at H/4) and
  the dequantized layer-2 latent, 3x3 convs at H/4 (width 32, one residual block), a 3x3 conv
  to 48 channels and PixelShuffle(4): a residual added to the base reconstruction
  (~150 M MAC, a fifth of the lite decoder).

Layer-2 values are signed and quantized at 64 levels over a fixed [-4, 4] (the bitstream's
[min_c, max_c] quantizer) and sent after every base value, in the paper's priority rule on
their own grid: `5*s + 31*(C2 - c)` with `s` the 5-bit saliency of their cell, ties by index. Training
cuts the layer-2 stream at a random prefix (zero included, so a frame without layer 2 is also
refined). The loss is MSE plus a rate proxy, `rate_weight` x estimated bits per pixel, the
bits being log2(1 + |value| / step) + 1 per value (small levels are cheap in the codec's Huffman
tables), ramped in over steps 1 000-2 000. Results: training/README.md.

Evaluation (`--eval`) reports, on the validation split's centre crops and on the held-out
whole photos of `heldout.py`, PSNR for the base alone, the refined frame without layer 2, and
layer-2 prefixes, with their bytes estimated by per-channel Huffman codes built on the
validation split (the base's bytes are the Rust codec's real full-frame sizes, given as
--base-bytes). Nothing here changes a bundle: `layered.py` trains the same two networks in the
codec's real item order and exports them as a bundle (models/limitnet-layered).

  python -m limitnet_train.enhance --bundle ../models/limitnet-lite --data ../data \
      --out checkpoints/enhance --minutes 35 --rate-weight 0.05   # resumable; OUT/train.log
  python -m limitnet_train.enhance --bundle ../models/limitnet-lite --data ../data \
      --out checkpoints/enhance --eval --base-bytes-val 4472
"""

import argparse
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import PhotoSet
from .export import huffman_lengths
from .model import LEVELS, ResBlock, keep_mask, pool_saliency, priority_keys
from .resilience import load_bundle
from .train import imagenet_norm, log, psnr, save


class Enhancer(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.proj = nn.Conv2d(16, channels, 1)

    def forward(self, rgb01):
        x = imagenet_norm(rgb01)
        # Signed output and a leaky stem: with ReLUs the first run's layer collapsed to a
        # constant (every stem unit dead), carrying nothing.
        return self.proj(F.leaky_relu(self.stem(x), 0.1))


class Refiner(nn.Module):
    def __init__(self, channels, width=32):
        super().__init__()
        self.head = nn.Conv2d(48 + channels, width, 3, padding=1)
        self.body = ResBlock(width)
        self.tail = nn.Conv2d(width, 48, 3, padding=1)

    def forward(self, base, layer2):
        x = torch.cat([F.pixel_unshuffle(base, 4), layer2], 1)
        x = F.relu(self.body(F.relu(self.head(x))))
        return (base + F.pixel_shuffle(self.tail(x), 4)).clamp(0, 1)


# A fixed range for every layer-2 channel: the network scales its latent to the step (a
# tracked range made the rate proxy scale-free, and the first run's layer shrank to nothing).
RANGE = 4.0


def layer_grid(levels=LEVELS, zero_level=False):
    """(lowest value, step) of the layer-2 quantizer: `levels` levels over [-RANGE, RANGE], or
    with `zero_level` steps of 2 RANGE / levels from -RANGE, so that level levels / 2 is exactly
    0 (a value the rate term pushed to zero then costs no sign) and the top is RANGE - step."""
    if zero_level:
        return -RANGE, 2 * RANGE / levels
    return -RANGE, 2 * RANGE / (levels - 1)


def layer_levels(z, levels=LEVELS, zero_level=False):
    """Levels 0..levels-1 of layer-2 values on `layer_grid`, as the Rust quantizer makes them
    (codec.json latent_min, and latent_max = latent_min + (levels - 1) step)."""
    lo, step = layer_grid(levels, zero_level)
    return torch.round((torch.clamp(z, lo, lo + (levels - 1) * step) - lo) / step).long()


class Layer2(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = channels
        self.enhancer = Enhancer(channels)
        self.refiner = Refiner(channels)
        # RANGE, kept as a buffer because every checkpoint's state holds it.
        self.register_buffer("latent_max", torch.full((channels,), RANGE))

    def levels(self, latent):
        """Distance from zero in quantization steps (for the rate proxy), levels 0..63 of the
        range [-RANGE, RANGE], and the straight-through dequantized values."""
        step = 2 * RANGE / (LEVELS - 1)
        q = layer_levels(latent)
        deq = latent + (q * step - RANGE - latent).detach()
        return latent.abs() / step, q, deq


@torch.no_grad()
def base_pass(bundle, images):
    """Full-frame base reconstruction and the 5-bit saliency map, as the deployed codec has them
    (saliency from the raw latent, the decoder fed all quantized values)."""
    latent = bundle.encoder(images)
    sal_q = pool_saliency(bundle.saliency(latent))
    return bundle.decoder(bundle.quantize(latent)), sal_q


def run(bundle, layer2, images, fracs):
    base, sal_q = base_pass(bundle, images)
    latent = layer2.enhancer(images)
    cont, q, deq = layer2.levels(latent)
    _, c, h, w = latent.shape
    counts = torch.tensor([math.floor(f * c * h * w) for f in fracs])
    mask = keep_mask(priority_keys(sal_q, h, w, channels=c), counts)
    rec = layer2.refiner(base, torch.where(mask, deq, torch.zeros_like(deq)))
    bits = (torch.log2(1 + cont) + 1) * mask
    bpp = bits.flatten(1).sum(1) / (images.shape[2] * images.shape[3])
    return rec, base, bpp, q, mask, sal_q


def sample_fracs(n, rng):
    # A fifth of the batch without layer 2 (refined base alone), the rest anywhere.
    return [0.0 if rng.random() < 0.2 else rng.uniform(0.0, 1.0) for _ in range(n)]


def train(args):
    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.bundle).eval()
    for p in bundle.parameters():
        p.requires_grad_(False)
    photos = PhotoSet(args.data, "train")
    layer2 = Layer2(args.channels)
    opt = torch.optim.Adam(list(layer2.enhancer.parameters()) + list(layer2.refiner.parameters()), lr=args.lr)
    os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, "ckpt.pt")
    step, seconds = 0, 0.0
    if os.path.exists(ckpt):
        state = torch.load(ckpt)
        layer2.load_state_dict(state["layer2"])
        opt.load_state_dict(state["opt"])
        step, seconds = state["step"], state["seconds"]
    fh = open(os.path.join(args.out, "train.log"), "a")
    log(fh, f"start step {step} ({seconds / 60:.1f} min done) channels {args.channels} rate_weight {args.rate_weight}")
    rng = random.Random(step)
    t0, last_save = time.time() - seconds, time.time()
    psnrs, bpps, gains = [], [], []
    while time.time() - t0 < args.minutes * 60:
        images, _ = photos.sample(args.batch, 224, rng)
        fracs = sample_fracs(args.batch, rng)
        rec, base, bpp, _, _, _ = run(bundle, layer2, images, fracs)
        mse = F.mse_loss(rec, images)
        full = [i for i, f in enumerate(fracs) if f > 0.7]
        if full:
            gains.append(psnr(rec[full].detach(), images[full]) - psnr(base[full], images[full]))
        # No rate term until the layer carries something (a rate term from the first step
        # pushes the latent to zero before the reconstruction loss can use it).
        rate_weight = args.rate_weight * min(1.0, max(0.0, (step - 1000) / 1000))
        loss = 1000 * mse + rate_weight * bpp.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        psnrs.append(psnr(rec.detach(), images))
        bpps.append(bpp.mean().item())
        if step % 25 == 0:
            log(fh, f"step {step} psnr {np.mean(psnrs):.2f} proxy-bpp {np.mean(bpps):.3f} "
                    f"gain over the base with > 70 % of layer 2 {np.mean(gains) if gains else 0:+.2f} dB")
            psnrs, bpps, gains = [], [], []
        if time.time() - last_save > 180:
            save(ckpt, {"layer2": layer2.state_dict(), "opt": opt.state_dict(), "step": step, "seconds": time.time() - t0})
            last_save = time.time()
    save(ckpt, {"layer2": layer2.state_dict(), "opt": opt.state_dict(), "step": step, "seconds": time.time() - t0})
    log(fh, f"done at step {step}")


def heldout_images():
    from PIL import Image

    from .heldout import fetch, imagenet_crop

    root = os.path.join(os.path.dirname(__file__), "..", "..")
    arrays = []
    for _, path in fetch(root):
        img = imagenet_crop(Image.open(path))
        arrays.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div(255))
    return torch.stack(arrays)


@torch.no_grad()
def evaluate(args):
    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.bundle).eval()
    layer2 = Layer2(args.channels)
    layer2.load_state_dict(torch.load(os.path.join(args.out, "ckpt.pt"))["layer2"])
    layer2.eval()
    val = PhotoSet(args.data, "val").center_crops(224)
    # Huffman tables per channel from the validation split's levels.
    _, _, _, q, _, _ = run(bundle, layer2, val, [1.0] * len(val))
    tables = []
    for c in range(args.channels):
        counts = torch.bincount(q[:, c].flatten().long(), minlength=LEVELS).tolist()
        tables.append(torch.tensor(huffman_lengths(counts), dtype=torch.float32))
    fracs = [0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0]
    for name, images, base_bytes in (("val crops", val, args.base_bytes_val), ("held-out whole photos", heldout_images(), args.base_bytes_heldout)):
        print(f"\n{name} ({len(images)}): base full frame {base_bytes} B")
        for f in fracs:
            rec, base, _, q, mask, _ = run(bundle, layer2, images, [f] * len(images))
            bits = sum((tables[c][q[:, c].long()] * mask[:, c]).flatten(1).sum(1) for c in range(args.channels))
            extra = bits.mean().item() / 8
            if f == 0.0:
                print(f"  base alone: {psnr(base, images):.2f} dB")
            print(f"  layer-2 {f:4.2f}: {base_bytes + extra:7.0f} B  {psnr(rec, images):.2f} dB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default="../models/limitnet-lite")
    ap.add_argument("--data", default="../data")
    ap.add_argument("--out", default="checkpoints/enhance")
    ap.add_argument("--minutes", type=float, default=70)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--rate-weight", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval", action="store_true")
    ap.add_argument("--base-bytes-val", type=int, default=0, help="mean full-frame bytes of the base on val crops")
    ap.add_argument("--base-bytes-heldout", type=int, default=4340, help="the same on held-out photos (docs/eval-heldout.md)")
    args = ap.parse_args()
    evaluate(args) if args.eval else train(args)


if __name__ == "__main__":
    main()
