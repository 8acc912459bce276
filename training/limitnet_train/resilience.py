"""Phase 4: teach a trained decoder the holes that packet losses leave (issue 13).

The decoder of phases 1-3 only ever saw tail cuts: a prefix of the priority order, zeros after.
Over a lossy link (docs/rtp-payload.md) whole packets, i.e. runs of consecutive ranks, go
missing from the middle of the order, and the receiver fills them with `conceal_holes`
(limitnet/src/codec/packet.rs: the mean of known same-channel 4-neighbours, onion peeling, then
20 smoothing passes). This phase fine-tunes the decoder alone on both: half of each batch is cut
as in phases 2-3, half loses runs of ranks the size of 51- or 222-byte packets, at random or in
Gilbert-Elliott bursts, concealed the way the receiver conceals them (`holes.py`, which
`train.py --hole-share` shares). The encoder, the saliency
branch and the quantization ranges are frozen, so `encoder.onnx` and `codec.json` (the
bitstream, the code tables, the microcontroller sender's weights) stay byte for byte the same;
only `decoder.onnx` changes. The objective is phase 3's with the teacher KL weighted down
(0.1 x KL + 100 x MSE).

A version 3 bundle (coarse levels first, refinement bits later) is instead cut by items, as
its frames are: the first share of its items in the bundle's item order, each value
reconstructed at the middle of its known level interval (`model.refined_levels`), the input
the Rust decoder gives the decoder network; the phases 1-3 decoder only ever saw whole
64-level values. `--ema` averages the weights, which steadies the evaluations.

  python -m limitnet_train.resilience --bundle ../models/limitnet-lite --data ../data \
      --out checkpoints/lite-resilient --minutes 60            # resumable; log in OUT/train.log
  python -m limitnet_train.resilience --bundle ../models/limitnet-lite --data ../data \
      --out checkpoints/lite-items --ema 0.998 --minutes 70    # version 3: the item cut
  python -m limitnet_train.resilience --bundle ../models/limitnet-lite \
      --export checkpoints/lite-resilient/final.pt             # rewrites BUNDLE/decoder.onnx

Starting from a bundle (its ONNX weights), not a checkpoint, so it runs on any machine that has
the repository.
"""

import argparse
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F

from .data import PhotoSet
from .export import quantized_latents
from .holes import with_packet_loss
from .model import (CHANNELS, SALIENCY_WEIGHT, LimitNet, keep_mask, pool_saliency, priorities_at, priority_keys,
                    refined_levels)
from .train import imagenet_norm, load_teacher, log, psnr, sample_keep_fraction, save


def load_bundle(bundle_dir):
    """LimitNet(fast decoder, lite encoder) with the weights of a bundle's ONNX graphs."""
    import onnx
    from onnx import numpy_helper

    with open(os.path.join(bundle_dir, "codec.json")) as f:
        codec = json.load(f)
    model = LimitNet("fast", "lite", codec.get("saliency_weight", SALIENCY_WEIGHT), codec["levels"])
    state = model.state_dict()
    for graph, prefix in (("encoder.onnx", ""), ("decoder.onnx", "decoder.")):
        for init in onnx.load(os.path.join(bundle_dir, graph)).graph.initializer:
            name = prefix + init.name
            if name not in state:
                raise SystemExit(f"{graph}: initializer {init.name} is not a parameter of LimitNet(fast, lite)")
            state[name] = torch.from_numpy(numpy_helper.to_array(init).copy())
    state["latent_max"] = torch.tensor(codec["latent_max"])
    state["latent_max_initialized"] = torch.tensor(True)
    model.load_state_dict(state)
    model.context_edges = codec.get("context_edges", [])  # the bundle's own (rules_fixture)
    model.refinement_bits = codec.get("refinement_bits", 0)  # version 3: coarse levels coded
    model.refinement_delay = codec.get("refinement_delay", 0)
    return model


def damaged_latent(model, images, rng, loss_share=0.5, fixed=None):
    """The quantized latent as a receiver reconstructs it: cut (as phases 2-3) or with packet
    losses concealed (`holes.with_packet_loss`). `fixed` = (loss probability, run length), for
    evaluation: every sample loses packets of a whole frame. A version 3 bundle's frames are cut
    by items (coarse levels, refinement bits), with no losses."""
    if model.refinement_bits:
        if loss_share or fixed:
            raise SystemExit("packet losses of version 3 items are not modelled; use --loss-share 0")
        return item_cut_latent(model, images, fractions=[sample_keep_fraction(rng) for _ in images])
    with torch.no_grad():
        latent = model.quantize(model.encoder(images))
        n, c, h, w = latent.shape
        keys = priority_keys(pool_saliency(model.saliency(latent)), h, w, saliency_weight=model.saliency_weight)
        if fixed is None:
            counts = [max(1, math.floor(sample_keep_fraction(rng) * c * h * w)) for _ in range(n)]
            mask = keep_mask(keys, torch.tensor(counts))
        else:
            mask = torch.ones_like(latent, dtype=torch.bool)  # the whole frame is sent
        latent, mask = with_packet_loss(latent, keys, mask, loss_share, rng, fixed)
        return torch.where(mask, latent, torch.zeros_like(latent))


@torch.no_grad()
def item_cut_latent(model, images, fractions):
    """The latent a version 3 receiver decodes from the first `fractions[i]` of frame i's items
    (coarse levels and refinement bits in the bundle's item order): interval middles, zeros."""
    # As the deployed encoders do it: the saliency of the latent before quantization.
    q, sal = quantized_latents(model, images, model.levels)
    items = (model.refinement_bits + 1) * q[0].numel()
    counts = torch.tensor([max(1, math.floor(f * items)) for f in fractions])
    prio = priorities_at(sal, saliency_weight=model.saliency_weight)
    levels = refined_levels(q, prio, counts, model.refinement_bits, model.refinement_delay, model.levels)
    return levels * model.latent_max.view(1, -1, 1, 1) / (model.levels - 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, help="model bundle to start from (and to export into)")
    ap.add_argument("--data", default="../data")
    ap.add_argument("--out", default="checkpoints/resilient")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-5,
                    help="a fresh Adam at 1e-4 or 5e-5 cost 0.9-1.4 dB of validation PSNR in 150-300 steps")
    ap.add_argument("--train", default="head,body",
                    help="decoder parts to train (the latent-resolution ones see the holes; the rest stay)")
    ap.add_argument("--kl-weight", type=float, default=0.1,
                    help="weight of the teacher KL beside 100 x MSE (phase 3: 1; with batches this small "
                         "the KL's noise pulled validation PSNR down 1.4 dB in 300 steps)")
    ap.add_argument("--loss-share", type=float, default=None,
                    help="share of each batch that loses packets (default 0.5; 0, the only choice, for version 3 "
                         "bundles, whose frames are cut by items)")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="keep an exponential moving average of the trained weights with this decay (e.g. 0.998) "
                         "and evaluate/save it: single steps wobble validation PSNR by up to 1 dB")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=150)
    ap.add_argument("--ckpt-every", type=float, default=180)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps (smoke test)")
    ap.add_argument("--export", default=None, help="checkpoint whose decoder to write to BUNDLE/decoder.onnx")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = load_bundle(args.bundle)
    if args.loss_share is None:
        args.loss_share = 0.0 if model.refinement_bits else 0.5
    if args.export:
        from .export import export_onnx

        ck = torch.load(args.export, map_location="cpu")
        model.decoder.load_state_dict(ck.get("ema") or ck["decoder"])
        model.eval()
        n, h, w = torch.export.Dim("n", min=1, max=64), torch.export.Dim("h8", min=1, max=1024), torch.export.Dim("w8", min=1, max=1024)
        export_onnx(model.decoder, (torch.rand(1, CHANNELS, 28, 28),), os.path.join(args.bundle, "decoder.onnx"),
                    ["latent"], ["image"], {"latent": {0: n, 2: h, 3: w}})
        print(f"wrote {args.bundle}/decoder.onnx from {args.export}")
        return

    os.makedirs(args.out, exist_ok=True)
    fh = open(os.path.join(args.out, "train.log"), "a")
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    rng = random.Random(4321)
    torch.manual_seed(4321)
    for p in list(model.encoder.parameters()) + list(model.saliency.parameters()):
        p.requires_grad_(False)
    parts = args.train.split(",")
    trained = [p for n, p in model.decoder.named_parameters() if n.split(".")[0] in parts]
    for n, p in model.decoder.named_parameters():
        p.requires_grad_(n.split(".")[0] in parts)
    opt = torch.optim.Adam(trained, lr=args.lr)
    state = {"seconds": 0.0, "step": 0, "images": 0}
    # The averaged decoder (evaluated and exported) and the live one (trained) swap around
    # evaluations; `averaged` holds a copy of every decoder tensor.
    averaged = {k: v.detach().clone() for k, v in model.decoder.state_dict().items()} if args.ema else None
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu")
        model.decoder.load_state_dict(ck["decoder"])
        if averaged is not None and ck.get("ema"):
            averaged = ck["ema"]
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        rng.setstate(ck["rng"])
        log(fh, f"resumed at step {state['step']}, {state['seconds']:.0f}s")
    train = PhotoSet(args.data, "train")
    val = PhotoSet(args.data, "val")
    val_imgs = val.center_crops(224)[:24]
    teacher = load_teacher()
    log(fh, f"decoder fine-tune from {args.bundle}: {len(train)} train photos, crop {args.crop}, "
            f"batch {args.batch}, lr {args.lr}, training {args.train} ({sum(p.numel() for p in trained)} parameters), KL weight {args.kl_weight}, budget {args.minutes} min")
    if state["step"] == 0:
        evaluate(model, val_imgs, fh)
    log(fh, f"loss share {args.loss_share}, EMA {args.ema}, refinement bits {model.refinement_bits} "
            f"(delay {model.refinement_delay})")
    budget = args.minutes * 60
    last_ckpt = time.time()
    steps = 0
    model.eval()  # no batch norm or dropout anywhere; keeps the frozen ranges frozen
    while state["seconds"] < budget and not (args.max_steps and steps >= args.max_steps):
        t0 = time.time()
        for g in opt.param_groups:
            # Warm up (a fresh Adam's first steps jolt a trained decoder), step decay at the end.
            warmup = min(1.0, (state["step"] + 1) / 100)
            g["lr"] = args.lr * warmup * (0.3 if state["seconds"] > 0.75 * budget else 1.0)
        images, _ = train.sample(args.batch, args.crop, rng)
        latent = damaged_latent(model, images, rng, loss_share=args.loss_share)
        rec = model.decoder(latent)
        mse = F.mse_loss(rec, images)
        with torch.no_grad():
            t_orig = F.log_softmax(teacher(imagenet_norm(images)), 1)
        t_rec = F.log_softmax(teacher(imagenet_norm(rec)), 1)
        kl = F.kl_div(t_rec, t_orig, log_target=True, reduction="batchmean")
        loss = args.kl_weight * kl + 100 * mse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if averaged is not None:
            with torch.no_grad():
                for k, v in model.decoder.state_dict().items():
                    averaged[k].mul_(args.ema).add_(v, alpha=1 - args.ema)
        dt = time.time() - t0
        state["seconds"] += dt
        state["step"] += 1
        state["images"] += args.batch
        steps += 1
        if state["step"] % 20 == 0:
            log(fh, f"step {state['step']} mse {mse.item():.5f} kl {kl.item():.4f} ({args.batch / dt:.1f} img/s, "
                    f"{state['seconds']:.0f}/{budget:.0f}s)")
        if state["step"] % args.eval_every == 0:
            evaluate_averaged(model, averaged, val_imgs, fh)
            if averaged is not None:
                save(os.path.join(args.out, f"step{state['step']}.pt"), {"decoder": averaged, "state": dict(state)})
        if time.time() - last_ckpt > args.ckpt_every:
            save(ckpt_path, {"decoder": model.decoder.state_dict(), "ema": averaged, "opt": opt.state_dict(),
                             "state": state, "rng": rng.getstate()})
            last_ckpt = time.time()
    evaluate_averaged(model, averaged, val_imgs, fh)
    save(ckpt_path, {"decoder": model.decoder.state_dict(), "ema": averaged, "opt": opt.state_dict(), "state": state,
                     "rng": rng.getstate()})
    save(os.path.join(args.out, "final.pt"), {"decoder": averaged or model.decoder.state_dict(), "state": state})
    log(fh, f"done: {state['step']} steps, {state['images']} crops, {state['seconds'] / 60:.1f} min")


def evaluate_averaged(model, averaged, val_imgs, fh):
    """`evaluate` with the averaged weights in the decoder (the live ones put back after)."""
    if averaged is None:
        return evaluate(model, val_imgs, fh)
    live = {k: v.detach().clone() for k, v in model.decoder.state_dict().items()}
    model.decoder.load_state_dict(averaged)
    evaluate(model, val_imgs, fh)
    model.decoder.load_state_dict(live)


@torch.no_grad()
def evaluate(model, val_imgs, fh):
    """Validation PSNR (24 centre crops at 224): cuts, and 10/20/30 % loss of 100-value runs
    (version 3 bundles: cuts by items, at 2-100 % of them; no losses)."""
    if model.refinement_bits:
        res = []
        for keep in (0.02, 0.05, 0.1, 0.2, 0.4, 1.0):
            recs = [model.decoder(item_cut_latent(model, val_imgs[i : i + 8], [keep] * len(val_imgs[i : i + 8])))
                    for i in range(0, len(val_imgs), 8)]
            res.append(f"{int(keep * 100)}% {psnr(torch.cat(recs), val_imgs):.2f}")
        log(fh, "val PSNR (dB) by share of items " + ", ".join(res))
        return
    res = []
    for name, kw in [(f"{int(k * 100)}%", {"keep": k}) for k in (0.05, 0.1, 0.2, 1.0)] + \
                    [(f"loss{int(p * 100)}", {"fixed": (p, 100)}) for p in (0.1, 0.2, 0.3)]:
        rng = random.Random(99)
        recs = []
        for i in range(0, len(val_imgs), 8):
            imgs = val_imgs[i : i + 8]
            if "keep" in kw:
                latent = model.quantize(model.encoder(imgs))
                n, c, h, w = latent.shape
                keys = priority_keys(pool_saliency(model.saliency(latent)), h, w, saliency_weight=model.saliency_weight)
                count = torch.full((n,), max(1, math.floor(kw["keep"] * c * h * w)))
                latent = torch.where(keep_mask(keys, count), latent, torch.zeros_like(latent))
            else:
                latent = damaged_latent(model, imgs, rng, fixed=kw["fixed"])
            recs.append(model.decoder(latent))
        res.append(f"{name} {psnr(torch.cat(recs), val_imgs):.2f}")
    log(fh, "val PSNR (dB) " + ", ".join(res))


if __name__ == "__main__":
    main()
