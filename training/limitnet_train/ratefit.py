"""Rate-aware fine-tuning of a bundle's encoder and decoder (issue 12, item 5; an experiment).

The bundles were trained without a rate term: a value costs what the encoder made it cost
(limitnet-lite: ~2.1 bits per coarse level, 1.4 in refinement bits, range coded). Here the
encoder and decoder are fine-tuned on the codec's real item cuts (`model.refined_items`, the
receiver's interval middles, straight-through to the encoder) with

  100 x MSE + kl_weight x the teacher's KL + rate_weight x bits per pixel of the whole frame,

the bits from a learned prior per channel in level units: a point mass at level 0 (what ReLU
zeros and tiny values quantize to) plus an exponential over the rest, integrated over a level
around the value plus uniform noise (the usual differentiable stand-in for rounding). The saliency
branch, the ranges (latent_max) and the item order stay; the export (`--export DIR`) writes a
checkpoint `export.py --ckpt` turns into a bundle with version 4 tables from the new latents.

  python -m limitnet_train.ratefit --bundle ../models/limitnet-lite --data ../data \\
      --out checkpoints/ratefit --minutes 45 --rate-weight 0.1
  python -m limitnet_train.export --ckpt checkpoints/ratefit/model.pt --refinement-bits 2 \\
      --refinement-delay 31 --range-coded --data ../data --out DIR
"""

import argparse
import math
import os
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import PhotoSet
from .export import quantized_latents
from .model import priorities_at, refined_items
from .resilience import load_bundle
from .train import imagenet_norm, load_teacher, log, psnr, sample_keep_fraction, save


class LevelPrior(nn.Module):
    """Per channel: P(level 0) = sigmoid(zero_logit); the rest an exponential of scale
    exp(log_scale) levels over (0.5, inf), integrated over each level's interval."""

    def __init__(self, channels):
        super().__init__()
        self.zero_logit = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.full((channels,), 1.5))

    def bits(self, u):
        """Bits of latent values `u` [N,C,h,w] in level units (>= 0), with uniform noise."""
        p0 = torch.sigmoid(self.zero_logit).view(1, -1, 1, 1)
        b = self.log_scale.exp().view(1, -1, 1, 1)
        noisy = (u + torch.rand_like(u) - 0.5).clamp_min(0)

        def tail(t):  # P(value > t) for t >= 0.5 under the exponential part
            return torch.exp(-(t - 0.5).clamp_min(0) / b)

        p_rest = (1 - p0) * (tail(noisy - 0.5) - tail(noisy + 0.5))
        # Level 0's bin is [0, 0.5): every value there costs the same, -log2 P(level 0).
        p = torch.where(noisy < 0.5, p0.expand_as(noisy), p_rest)
        return -torch.log2(p.clamp_min(1e-9))


def cut_latent(model, images, fractions):
    """The latent a receiver decodes from the first `fractions[i]` of each frame's items,
    straight through to the encoder's output, and that output in level units."""
    latent = model.encoder(images)
    step = model.latent_max.view(1, -1, 1, 1) / (model.levels - 1)
    with torch.no_grad():
        q, sal = quantized_latents(model, images, model.levels)
        items = (model.refinement_bits + 1) * q[0].numel()
        counts = torch.tensor([max(1, math.floor(f * items)) for f in fractions])
        prio = priorities_at(sal, saliency_weight=model.saliency_weight)
        lv, got = refined_items(q, prio, counts, model.refinement_bits, model.refinement_delay, model.levels)
        received = got > 0
    deq = lv * step
    st = torch.where(received, latent + (deq - latent).detach(), torch.zeros_like(latent))
    return st, latent / step


@torch.no_grad()
def evaluate(model, prior, val, fh):
    res = []
    for keep in (0.02, 0.05, 0.1, 0.2, 0.4, 1.0):
        recs = [model.decoder(cut_latent(model, val[i : i + 8], [keep] * len(val[i : i + 8]))[0])
                for i in range(0, len(val), 8)]
        res.append(f"{int(keep * 100)}% {psnr(torch.cat(recs), val):.2f}")
    _, u = cut_latent(model, val, [1.0] * len(val))
    bpp = prior.bits(u).sum((1, 2, 3)).mean().item() / (val.shape[2] * val.shape[3])
    log(fh, "val PSNR (dB) by share of items " + ", ".join(res) + f"; prior's bits per pixel {bpp:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="../models/limitnet-lite")
    ap.add_argument("--data", default="../data")
    ap.add_argument("--out", default="checkpoints/ratefit")
    ap.add_argument("--minutes", type=float, default=45)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--rate-weight", type=float, default=0.1)
    ap.add_argument("--kl-weight", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=300)
    ap.add_argument("--max-steps", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = load_bundle(args.bundle)
    for p in model.saliency.parameters():
        p.requires_grad_(False)
    prior = LevelPrior(model.latent_max.numel())
    params = list(model.encoder.parameters()) + list(model.decoder.parameters())
    opt = torch.optim.Adam([{"params": params}, {"params": prior.parameters(), "lr": 1e-2}], lr=args.lr)
    os.makedirs(args.out, exist_ok=True)
    fh = open(os.path.join(args.out, "train.log"), "a")
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    rng = random.Random(99)
    state = {"seconds": 0.0, "step": 0}
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu")
        model.load_state_dict(ck["model"])
        prior.load_state_dict(ck["prior"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        rng.setstate(ck["rng"])
        log(fh, f"resumed at step {state['step']}")
    train = PhotoSet(args.data, "train")
    val = PhotoSet(args.data, "val").center_crops(224)[:16]
    teacher = load_teacher()
    log(fh, f"rate-aware fine-tune of {args.bundle}: rate weight {args.rate_weight}, KL {args.kl_weight}, "
            f"lr {args.lr}, crop {args.crop}, batch {args.batch}, {args.minutes} min")
    if state["step"] == 0:
        evaluate(model, prior, val, fh)
    model.eval()  # no batch norm or dropout; the ranges stay frozen

    def snapshot():
        return {"model": model.state_dict(), "prior": prior.state_dict(), "opt": opt.state_dict(),
                "state": state, "rng": rng.getstate()}

    last = time.time()
    steps = 0
    while state["seconds"] < args.minutes * 60 and not (args.max_steps and steps >= args.max_steps):
        t0 = time.time()
        warm = min(1.0, (state["step"] + 1) / 100)
        opt.param_groups[0]["lr"] = args.lr * warm
        images, _ = train.sample(args.batch, args.crop, rng)
        latent, u = cut_latent(model, images, [sample_keep_fraction(rng) for _ in range(args.batch)])
        rec = model.decoder(latent)
        mse = F.mse_loss(rec, images)
        with torch.no_grad():
            t_orig = F.log_softmax(teacher(imagenet_norm(images)), 1)
        kl = F.kl_div(F.log_softmax(teacher(imagenet_norm(rec)), 1), t_orig, log_target=True, reduction="batchmean")
        bpp = prior.bits(u).sum((1, 2, 3)).mean() / (images.shape[2] * images.shape[3])
        loss = 100 * mse + args.kl_weight * kl + args.rate_weight * warm * bpp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["seconds"] += time.time() - t0
        state["step"] += 1
        steps += 1
        if state["step"] % 25 == 0:
            log(fh, f"step {state['step']} psnr {psnr(rec.detach(), images):.2f} bpp {bpp.item():.3f} kl {kl.item():.3f}")
        if state["step"] % args.eval_every == 0:
            evaluate(model, prior, val, fh)
        if time.time() - last > 180:
            save(ckpt_path, snapshot())
            last = time.time()
    save(ckpt_path, snapshot())
    evaluate(model, prior, val, fh)
    # What export.py --ckpt reads: the LimitNet state and its architecture.
    save(os.path.join(args.out, "model.pt"), {"model": model.state_dict(),
                                              "state": {"arch": "fast", "encoder": "lite",
                                                        "saliency_weight": model.saliency_weight,
                                                        "levels": model.levels}})
    log(fh, f"done: {state['step']} steps")


if __name__ == "__main__":
    main()
