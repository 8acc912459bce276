"""A layered bundle (issue 12, "no ceiling"): a base bundle's latent plus a second latent layer,
sent as one latent, so the stream keeps adding quality past the base's ~4.4 KB full frame.

The second layer is enhance.py's (`Enhancer`: conv 3->16 k4 s4, leaky ReLU, conv 16->C2 1x1, a
signed C2 x H/4 x W/4 latent; `Refiner`: the reconstruction pixel-unshuffled by 4 and the layer,
3x3 convs at H/4, a residual through PixelShuffle(4)). Here the layer is pixel-unshuffled by 2
into 4*C2 channels at the base latent's H/8 x W/8 and appended to the base's 12 channels: the
bundle is an ordinary version 3 bundle of 12 + 4*C2 channels (44 for C2 = 8) and nothing in the
bitstream, the codec or the Rust side changes. The priority P = k*s + 31*(C - c) puts the layer's
channels after the base's; with k = 3 the salient cells' first layer-2 channels come among the
base's last channel and refinement bits. Layer-2 values are quantized at the bundle's levels
over the fixed range [-RANGE, RANGE] (latent_min / latent_max); one not received is 0.

  encoder.onnx  image -> latent [N, 12 + 4*C2, H/8, W/8] (base latent, unshuffled layer), saliency
  decoder.onnx  latent -> the base decoder's image on the first 12 channels, refined by the
                Refiner with the rest (always: trained on every cut, layer or not)

Training: the base bundle's encoder, saliency branch and decoder frozen; the enhancer and refiner
learn on random item cuts of the combined latent in the real item order (`model.refined_items`
with the bundle's k, r and D), MSE + rate_weight x a bits-per-pixel proxy of the layer-2 values
sent. Warm start from an enhance.py checkpoint (`--init`). Resumable (OUT/ckpt.pt, OUT/train.log).

  python -m limitnet_train.layered --bundle ../models/limitnet-lite --data ../data \\
      --out checkpoints/layered --minutes 65
  python -m limitnet_train.layered --bundle ../models/limitnet-lite --data ../data \\
      --out checkpoints/layered --export ../models/limitnet-layered
"""

import argparse
import json
import math
import os
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import PhotoSet
from .enhance import Layer2, layer_grid, layer_levels
from .export import codec_tables, export_onnx, level_histograms, new_bit_counts, quantized_latents, table_images
from .model import CHANNELS, priorities_at, refined_items
from .resilience import load_bundle
from .train import log, psnr, save

class LayeredEncoder(nn.Module):
    def __init__(self, bundle, enhancer):
        super().__init__()
        self.encoder = bundle.encoder
        self.saliency = bundle.saliency
        self.enhancer = enhancer

    def forward(self, image):
        latent = self.encoder(image)
        layer = F.pixel_unshuffle(self.enhancer(image), 2)
        return torch.cat([latent, layer], 1), self.saliency(latent)


class LayeredEncoderGraph(nn.Module):
    """`LayeredEncoder` as exported, the same function in fewer, cheaper nodes: one input
    normalization (which the Rust side folds into its input table, docs/memory.md), the base's
    and the enhancer's 4x4 stride-4 stems (same shape, same input) as one convolution, and the
    enhancer's 1x1 projection followed by the unshuffle as one 2x2 stride-2 convolution."""

    def __init__(self, bundle, enhancer):
        super().__init__()
        enc = bundle.encoder
        stem_base, stem_layer = enc.conv1, enhancer.stem
        assert stem_base.kernel_size == stem_layer.kernel_size == (4, 4) and stem_base.stride == stem_layer.stride == (4, 4)
        self.register_buffer("mean", enc.mean.clone())
        self.register_buffer("std", enc.std.clone())
        self.split = stem_base.out_channels
        self.stem = nn.Conv2d(3, self.split + stem_layer.out_channels, 4, stride=4)
        self.stem.weight.data = torch.cat([stem_base.weight, stem_layer.weight])
        self.stem.bias.data = torch.cat([stem_base.bias, stem_layer.bias])
        self.conv2, self.conv3 = enc.conv2, enc.conv3
        proj = enhancer.proj  # [C2, 16, 1, 1]
        c2, width = proj.weight.shape[:2]
        self.project = nn.Conv2d(width, 4 * c2, 2, stride=2)
        weight = torch.zeros(4 * c2, width, 2, 2)
        for c in range(c2):
            for i in range(2):
                for j in range(2):
                    # pixel_unshuffle's channel c*4 + i*2 + j holds offset (i, j) of channel c.
                    weight[c * 4 + i * 2 + j, :, i, j] = proj.weight[c, :, 0, 0]
        self.project.weight.data = weight
        self.project.bias.data = proj.bias.repeat_interleave(4)
        self.saliency = bundle.saliency

    def forward(self, image):
        x = self.stem((image - self.mean) / self.std)
        base = F.relu(x[:, : self.split])
        latent = F.relu(self.conv3(F.relu(self.conv2(base))))
        layer = self.project(F.leaky_relu(x[:, self.split :], 0.1))
        return torch.cat([latent, layer], 1), self.saliency(latent)


class LayeredDecoder(nn.Module):
    def __init__(self, bundle, refiner):
        super().__init__()
        self.decoder = bundle.decoder
        self.refiner = refiner

    def forward(self, latent):
        base = self.decoder(latent[:, :CHANNELS])
        return self.refiner(base, F.pixel_shuffle(latent[:, CHANNELS:], 2))


class LaplaceRate(nn.Module):
    """The rate term's prior (`--rate-model laplace`): each layer-2 channel a zero-mean Laplace
    of learned scale, integrated over a quantization step around the value plus uniform noise
    (the usual differentiable stand-in for rounding): -log2 of that is the value's bits. The
    range coder's tables (version 4) are then made from the trained layer's real histograms."""

    def __init__(self, channels):
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(channels))

    def bits(self, z, step):
        b = self.log_scale.exp().view(1, -1, 1, 1)
        noisy = z + (torch.rand_like(z) - 0.5) * step

        def cdf(x):
            return 0.5 + 0.5 * torch.sign(x) * (1 - torch.exp(-x.abs() / b))

        return -torch.log2((cdf(noisy + step / 2) - cdf(noisy - step / 2)).clamp_min(1e-9))


def cut(bundle, layer2, images, shares, zero_level=False, rate=None):
    """Reconstructions from the first shares[i] of each frame's items of the combined latent,
    the base decoder's alone from the same items, and the layer's bits per pixel: `rate`'s
    estimate (a `LaplaceRate`), or without one the first run's proxy, log2(1 + |z| / step) + 1
    per value sent."""
    levels = bundle.levels
    with torch.no_grad():
        base_q, sal_at = quantized_latents(bundle, images, levels)
    z = layer2.enhancer(images)
    q = torch.cat([base_q, F.pixel_unshuffle(layer_levels(z.detach(), levels, zero_level), 2)], 1)
    n, c, h, w = q.shape
    prio = priorities_at(sal_at, channels=c, saliency_weight=bundle.saliency_weight)
    stages = bundle.refinement_bits + 1
    counts = torch.tensor([max(1, math.floor(s * stages * c * h * w)) for s in shares])
    lv, got = refined_items(q, prio, counts, bundle.refinement_bits, bundle.refinement_delay, levels)
    with torch.no_grad():
        base = bundle.decoder(lv[:, :CHANNELS] * bundle.latent_max.view(1, -1, 1, 1) / (levels - 1))
    lowest, step = layer_grid(levels, zero_level)
    got2 = F.pixel_shuffle(got[:, CHANNELS:].float(), 2) > 0
    deq = F.pixel_shuffle(lv[:, CHANNELS:] * step + lowest, 2)
    # Straight through: the refiner sees what the receiver has, the enhancer gets its gradient.
    layer = torch.where(got2, z + (deq - z).detach(), torch.zeros_like(z))
    rec = layer2.refiner(base, layer)
    bits = (rate.bits(z, step) if rate is not None else torch.log2(1 + z.abs() / step) + 1) * got2
    bpp = bits.flatten(1).sum(1) / (images.shape[2] * images.shape[3])
    return rec, base, bpp


def sample_shares(n, rng, base_share):
    # Half the batch where the base's items dominate (the refiner must not hurt small frames),
    # half across the layer, a tenth of that at the full frame.
    out = []
    for _ in range(n):
        r = rng.random()
        out.append(rng.uniform(0.01, base_share) if r < 0.5 else 1.0 if r < 0.55 else rng.uniform(base_share * 0.8, 1.0))
    return out


EVAL_SHARES = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0]


@torch.no_grad()
def evaluate(bundle, layer2, val, fh, zero_level=False, rate=None):
    layer2.eval()
    rec_p, base_p, bpps = [], [], []
    for s in EVAL_SHARES:
        recs, bases, bpp = [], [], []
        for i in range(0, len(val), 15):
            rec, base, b = cut(bundle, layer2, val[i : i + 15], [s] * len(val[i : i + 15]), zero_level, rate)
            recs.append(rec)
            bases.append(base)
            bpp.append(b)
        rec_p.append(psnr(torch.cat(recs), val))
        base_p.append(psnr(torch.cat(bases), val))
        bpps.append(torch.cat(bpp).mean().item())
    layer2.train()
    log(fh, "val PSNR (dB) by share of items: " + ", ".join(f"{s:.0%} {r:.2f} (base {b:.2f})" for s, r, b in zip(EVAL_SHARES, rec_p, base_p)))
    log(fh, f"val layer bpp (estimate) at the whole frame {bpps[-1]:.3f}, half {bpps[EVAL_SHARES.index(0.5)]:.3f}")


def train(args):
    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.bundle).eval()
    for p in bundle.parameters():
        p.requires_grad_(False)
    photos = PhotoSet(args.data, "train")
    val = PhotoSet(args.data, "val").center_crops(224)
    layer2 = Layer2(args.channels)
    rate = LaplaceRate(args.channels) if args.rate_model == "laplace" else None
    params = list(layer2.enhancer.parameters()) + list(layer2.refiner.parameters())
    if rate is not None:
        params += list(rate.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, "ckpt.pt")
    step, seconds = 0, 0.0
    ramp_from = 1000
    fh = open(os.path.join(args.out, "train.log"), "a")
    if os.path.exists(ckpt):
        state = torch.load(ckpt)
        layer2.load_state_dict(state["layer2"])
        if "opt" in state:  # not in a recovered checkpoint
            opt.load_state_dict(state["opt"])
        step, seconds = state["step"], state["seconds"]
        if rate is not None and state.get("rate") is not None:
            rate.load_state_dict(state["rate"])
        ramp_from = state.get("ramp_from", ramp_from)
        args.zero_level = state.get("zero_level", False)
    elif args.init:
        layer2.load_state_dict(torch.load(args.init)["layer2"])
        # The layer carries something already: the rate term ramps in from the start.
        ramp_from = 0
        log(fh, f"warm start from {args.init}")
    log(fh, f"start step {step} ({seconds / 60:.1f} min done) channels {args.channels} rate_weight {args.rate_weight} "
            f"rate_model {args.rate_model} zero_level {args.zero_level}")

    def snapshot():
        return {"layer2": layer2.state_dict(), "opt": opt.state_dict(), "step": step, "seconds": time.time() - t0,
                "rate": rate.state_dict() if rate is not None else None, "ramp_from": ramp_from,
                "zero_level": args.zero_level}

    base_share = CHANNELS / (CHANNELS + 4 * args.channels)
    rng = random.Random(step + 1)
    t0, last_save = time.time() - seconds, time.time()
    if step == 0 and args.eval_every <= args.max_steps:
        evaluate(bundle, layer2, val, fh, args.zero_level, rate)
    psnrs, bpps = [], []
    while time.time() - t0 < args.minutes * 60 and step < args.max_steps:
        images, _ = photos.sample(args.batch, 224, rng)
        rec, _, bpp = cut(bundle, layer2, images, sample_shares(args.batch, rng, base_share), args.zero_level, rate)
        # No rate term until the layer carries something (enhance.py: from the first step it
        # pushes the layer to zero before the reconstruction can use it).
        rate_weight = args.rate_weight * min(1.0, max(0.0, (step - ramp_from) / 1000))
        loss = 1000 * F.mse_loss(rec, images) + rate_weight * bpp.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        psnrs.append(psnr(rec.detach(), images))
        bpps.append(bpp.mean().item())
        if step % 25 == 0:
            log(fh, f"step {step} psnr {sum(psnrs) / len(psnrs):.2f} layer-bpp {sum(bpps) / len(bpps):.3f}")
            psnrs, bpps = [], []
        if step % args.eval_every == 0:
            evaluate(bundle, layer2, val, fh, args.zero_level, rate)
        if time.time() - last_save > 180:
            save(ckpt, snapshot())
            last_save = time.time()
    save(ckpt, snapshot())
    if args.eval_every <= args.max_steps:
        evaluate(bundle, layer2, val, fh, args.zero_level, rate)
    log(fh, f"done at step {step}")


@torch.no_grad()
def recover(args):
    """OUT/ckpt.pt from an exported layered bundle (checkpoints are not committed): the layer's
    weights read back from the ONNX graphs (`LayeredEncoderGraph`'s fused stem and projection
    undone), so that a shipped bundle can be re-exported (new tables) or warm-start a run."""
    import onnx
    from onnx import numpy_helper

    def weights(name):
        graph = onnx.load(os.path.join(args.recover, name)).graph
        return {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}

    enc, dec = weights("encoder.onnx"), weights("decoder.onnx")
    layer2 = Layer2(args.channels)
    split = enc["stem.weight"].shape[0] - 16
    state = {
        "enhancer.stem.weight": enc["stem.weight"][split:], "enhancer.stem.bias": enc["stem.bias"][split:],
        # pixel_unshuffle's channel c*4 + i*2 + j holds offset (i, j) of channel c.
        "enhancer.proj.weight": enc["project.weight"][::4, :, 0:1, 0:1].clone(),
        "enhancer.proj.bias": enc["project.bias"][::4].clone(),
        "latent_max": layer2.latent_max,
    }
    state.update({k: v for k, v in dec.items() if k.startswith("refiner.")})
    layer2.load_state_dict(state)
    with open(os.path.join(args.recover, "codec.json")) as f:
        codec = json.load(f)
    # The quantizer is told by its top level: RANGE for the first, RANGE - step with a level at 0.
    lowest, step = layer_grid(codec["levels"], True)
    zero_level = abs(codec["latent_max"][-1] - (lowest + (codec["levels"] - 1) * step)) < 1e-6
    os.makedirs(args.out, exist_ok=True)
    save(os.path.join(args.out, "ckpt.pt"), {"layer2": layer2.state_dict(), "zero_level": zero_level, "step": 0, "seconds": 0.0})
    print(f"recovered {args.recover} -> {args.out}/ckpt.pt (zero_level {zero_level})")


@torch.no_grad()
def export(args):
    """The layered bundle: graphs, and code tables for all channels from the training split."""
    bundle = load_bundle(args.bundle).eval()
    with open(os.path.join(args.bundle, "codec.json")) as f:
        base_codec = json.load(f)
    state = torch.load(os.path.join(args.out, "ckpt.pt"))
    zero_level = state.get("zero_level", False)
    layer2 = Layer2(args.channels)
    layer2.load_state_dict(state["layer2"])
    layer2.eval()
    out = args.export
    os.makedirs(out, exist_ok=True)
    n, h, w = torch.export.Dim("n", min=1, max=64), torch.export.Dim("h8", min=1, max=1024), torch.export.Dim("w8", min=1, max=1024)
    channels = CHANNELS + 4 * args.channels
    graph = LayeredEncoderGraph(bundle, layer2.enhancer)
    check = torch.rand(2, 3, 64, 96)
    for a, b in zip(graph(check), LayeredEncoder(bundle, layer2.enhancer)(check)):
        # The same function up to float summation order (a fused stem sums in another order).
        assert (a - b).abs().max() < 1e-3, (a - b).abs().max()
    export_onnx(graph, (torch.rand(1, 3, 224, 224),), os.path.join(out, "encoder.onnx"),
                ["image"], ["latent", "saliency"], {"image": {0: n, 2: 8 * h, 3: 8 * w}})
    export_onnx(LayeredDecoder(bundle, layer2.refiner), (torch.rand(1, channels, 28, 28),), os.path.join(out, "decoder.onnx"),
                ["latent"], ["image"], {"latent": {0: n, 2: h, 3: w}})
    levels = bundle.levels
    images = table_images(args.data, args.table_crops)

    def batches():
        for i in range(0, len(images), 8):
            x = images[i : i + 8]
            base_q, sal_at = quantized_latents(bundle, x, levels)
            yield torch.cat([base_q, F.pixel_unshuffle(layer_levels(layer2.enhancer(x), levels, zero_level), 2)], 1), sal_at

    lowest, step = layer_grid(levels, zero_level)
    bit_counts = new_bit_counts(channels, levels, bundle.refinement_bits) if args.range_coded else None
    hist = level_histograms(batches(), channels, levels, bundle.refinement_bits, bit_counts)
    codec, summary = codec_tables(
        hist, levels,
        [0.0] * CHANNELS + [lowest] * (channels - CHANNELS),
        bundle.latent_max.tolist() + [lowest + (levels - 1) * step] * (channels - CHANNELS),
        bundle.saliency_weight, bundle.refinement_bits, bundle.refinement_delay, bit_counts)
    assert codec["context_edges"] == base_codec["context_edges"]
    with open(os.path.join(out, "codec.json"), "w") as f:
        json.dump(codec, f, indent=1)
    print(f"exported to {out} ({channels} channels); tables from {len(images)} training crops; {summary}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", default="../models/limitnet-lite")
    ap.add_argument("--data", default="../data")
    ap.add_argument("--out", default="checkpoints/layered")
    ap.add_argument("--init", help="an enhance.py checkpoint to start from")
    ap.add_argument("--minutes", type=float, default=65)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--rate-weight", type=float, default=0.05)
    ap.add_argument("--rate-model", choices=["proxy", "laplace"], default="proxy",
                    help="the rate term: the first run's bits proxy, or a learned Laplace prior per channel")
    ap.add_argument("--zero-level", action="store_true",
                    help="a layer quantizer with a level at exactly 0 (enhance.layer_grid); kept in the checkpoint")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--export", metavar="DIR", help="write the layered bundle to DIR instead of training")
    ap.add_argument("--table-crops", type=int, default=400)
    ap.add_argument("--range-coded", action="store_true", help="--export: version 4 tables (range coded frames)")
    ap.add_argument("--recover", metavar="BUNDLE", help="write OUT/ckpt.pt from an exported layered bundle instead of training")
    args = ap.parse_args()
    if args.recover:
        recover(args)
    elif args.export:
        export(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
