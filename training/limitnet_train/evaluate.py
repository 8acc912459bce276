"""Rate-quality evaluation on the test split at 224x224: LimitNet (through the project's Rust
encoder/decoder, cut at each byte budget) against JPEG, WebP and JPEG 2000 at the best setting
that fits the budget, and progressive JPEG cut at the budget. PSNR and MobileNetV2 top-1
agreement (reconstruction vs original). A codec that cannot make a frame within the budget
counts as a mid-grey frame.

Usage (from the repository root):
  python -m limitnet_train.evaluate --data data --out out/eval \
      [--model paper=models/limitnet-paper --model fast=models/limitnet-fast]
Each --model NAME=DIR adds a column `limitnet-NAME` (bundles compared in one run); without
--model, one `limitnet` column for the plugin's embedded model. Writes out/eval/results.csv, out/eval/results.md and out/eval/rate_quality.png.
"""

import argparse
import csv
import io
import os
import random
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile

from .data import PhotoSet
from .train import imagenet_norm, load_teacher

BUDGETS = [256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096]
CROPS_PER_PHOTO = 6  # 33 test photos -> 198 crops; 3 per photo left agreement too noisy
GREY = None  # filled lazily


def test_crops(data, out_dir):
    """Centre crop of the whole short side plus two random crops (40-90 % of it), at 224."""
    photos = PhotoSet(data, "test")
    rng = random.Random(2024)
    os.makedirs(out_dir, exist_ok=True)
    names = []
    for name, img, _ in photos.items:
        _, h, w = img.shape
        short = min(h, w)
        boxes = [((h - short) // 2, (w - short) // 2, short)]
        for _ in range(CROPS_PER_PHOTO - 1):
            s = int(short * rng.uniform(0.4, 0.9))
            boxes.append((rng.randint(0, h - s), rng.randint(0, w - s), s))
        for k, (y, x, s) in enumerate(boxes):
            crop = img[:, y : y + s, x : x + s].float()[None] / 255
            crop = F.interpolate(crop, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)[0]
            arr = (crop.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
            fname = f"{os.path.splitext(name)[0]}__{k}.png"
            Image.fromarray(arr).save(os.path.join(out_dir, fname))
            names.append(fname)
    return sorted(names)


def fit_quality(encode, lo, hi, budget):
    """Highest integer setting in [lo, hi] whose encoding fits `budget` bytes (size grows with it)."""
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        data = encode(mid)
        if len(data) <= budget:
            best = data
            lo = mid + 1
        else:
            hi = mid - 1
    return best


def pil_bytes(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def decode(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def classical(img, codec, budget):
    """(decoded RGB array or None if nothing fits, bytes used)."""
    if codec == "jpeg":
        data = fit_quality(lambda q: pil_bytes(img, "JPEG", quality=q, optimize=True), 1, 95, budget)
    elif codec == "webp":
        data = fit_quality(lambda q: pil_bytes(img, "WEBP", quality=q, method=6), 0, 100, budget)
    elif codec == "jpeg2000":
        # Rate = compression ratio against 224*224*3 raw bytes; the smallest ratio that fits.
        raw = img.width * img.height * 3
        data = None
        for ratio in np.geomspace(raw / budget * 0.8, raw / budget * 8, 24):
            d = pil_bytes(img, "JPEG2000", quality_mode="rates", quality_layers=[float(ratio)], irreversible=True)
            if len(d) <= budget:
                data = d
                break
    elif codec == "progressive-jpeg":
        # A progressive JPEG (quality 75) as a network would cut it: the first `budget` bytes.
        full = pil_bytes(img, "JPEG", quality=75, progressive=True, optimize=True)
        data = full[:budget]
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            return decode(data), len(data)
        except Exception:
            return None, len(data)
    else:
        raise ValueError(codec)
    if data is None:
        return None, 0
    return decode(data), len(data)


def reused_rows(path, skip_codecs, budgets):
    """The rows of an earlier results.csv for `budgets`, except those of `skip_codecs` (the
    bundles evaluated again), with their numbers as numbers: budget and no_frame int, the rest
    (codec aside) float."""
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r["codec"] not in skip_codecs and int(r["budget"]) in budgets]
    return [{k: v if k == "codec" else int(v) if k in ("budget", "no_frame") else float(v) for k, v in r.items()}
            for r in rows]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


@torch.no_grad()
def top1(model, arrays):
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    out = []
    for i in range(0, len(x), 32):
        out.append(model(imagenet_norm(x[i : i + 32])).argmax(1))
    return torch.cat(out).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data")
    ap.add_argument("--out", default="out/eval")
    ap.add_argument("--model", action="append", default=[],
                    help="NAME=DIR of a bundle to evaluate (repeatable; default: the embedded model)")
    ap.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    ap.add_argument("--reuse", default=None,
                    help="results.csv of an earlier run on the same crops: its rows for codecs not "
                         "evaluated now (classical codecs, other bundles) are copied, not recomputed")
    args = ap.parse_args()
    torch.set_num_threads(2)
    budgets = [int(b) for b in args.budgets.split(",")]
    orig_dir = os.path.join(args.out, "original")
    names = test_crops(args.data, orig_dir)
    print(f"{len(names)} test crops at 224x224 from the test split", flush=True)

    # LimitNet through the Rust code, one column per bundle.
    bundles = [m.split("=", 1) for m in args.model] or [("", None)]
    lim_dirs, full_bytes = {}, {}
    for name, model_dir in bundles:
        codec = f"limitnet-{name}" if name else "limitnet"
        lim_dirs[codec] = os.path.join(args.out, codec)
        cmd = ["cargo", "run", "--quiet", "--release", "-p", "limitnet", "--example", "eval_frames", "--", orig_dir, lim_dirs[codec]]
        if model_dir:
            cmd.append(model_dir)
        cmd.append(",".join(map(str, budgets)))
        subprocess.run(cmd, check=True)
        with open(os.path.join(lim_dirs[codec], "frames.csv")) as f:
            full_bytes[codec] = {r["name"]: int(r["full_bytes"]) for r in csv.DictReader(f)}

    originals = [np.asarray(Image.open(os.path.join(orig_dir, n)).convert("RGB")) for n in names]
    grey = np.full_like(originals[0], 128)
    teacher = load_teacher()
    ref = top1(teacher, originals)
    rows = []
    codecs = list(lim_dirs) + ["jpeg", "webp", "jpeg2000", "progressive-jpeg"]
    reused = []
    if args.reuse:
        # The crops are the same on every run (fixed seed, same split), so earlier rows still hold.
        reused = reused_rows(args.reuse, lim_dirs, budgets)
        old = list(dict.fromkeys(r["codec"] for r in reused))
        codecs = list(lim_dirs) + [c for c in old if c.startswith("limitnet")] + codecs[len(lim_dirs):]
        rows.extend(reused)
    for budget in budgets:
        for codec in codecs:
            if any(r["budget"] == budget and r["codec"] == codec for r in reused):
                continue
            recs, used, fails = [], [], 0
            for n, o in zip(names, originals):
                if codec in lim_dirs:
                    rec = np.asarray(Image.open(os.path.join(lim_dirs[codec], str(budget), n)).convert("RGB"))
                    nbytes = min(budget, full_bytes[codec][n])
                else:
                    rec, nbytes = classical(Image.fromarray(o), codec, budget)
                if rec is None:
                    rec, fails = grey, fails + 1
                recs.append(rec)
                used.append(nbytes)
            agree = float(np.mean(top1(teacher, recs) == ref))
            p = float(np.mean([psnr(o, r) for o, r in zip(originals, recs)]))
            rows.append({"budget": budget, "codec": codec, "mean_bytes": round(float(np.mean(used)), 1),
                         "psnr_db": round(p, 2), "top1_agreement": round(agree, 3), "no_frame": fails})
            print(f"{budget:5d} B {codec:17s} bytes {np.mean(used):7.1f} PSNR {p:6.2f} dB agreement {agree:.3f} no-frame {fails}", flush=True)

    rows.sort(key=lambda r: (r["budget"], codecs.index(r["codec"])))
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(f"{len(names)} test crops (224x224), MobileNetV2 top-1 agreement with the original / PSNR dB; "
                "mean LimitNet full frame " + ", ".join(f"{c} {np.mean(list(fb.values())):.0f} B" for c, fb in full_bytes.items()) + "\n\n")
        f.write("| budget (B) | " + " | ".join(codecs) + " |\n|---|" + "---|" * len(codecs) + "\n")
        for budget in budgets:
            cells = []
            for codec in codecs:
                r = next(r for r in rows if r["budget"] == budget and r["codec"] == codec)
                cells.append(f"{r['top1_agreement']:.2f} / {r['psnr_db']:.1f}" + (f" ({r['no_frame']} grey)" if r["no_frame"] else ""))
            f.write(f"| {budget} | " + " | ".join(cells) + " |\n")
    plot(rows, codecs, budgets, os.path.join(args.out, "rate_quality.png"))
    print(open(os.path.join(args.out, "results.md")).read())


def plot(rows, codecs, budgets, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for codec in codecs:
        rs = [next(r for r in rows if r["budget"] == b and r["codec"] == codec) for b in budgets]
        axes[0].plot(budgets, [r["top1_agreement"] for r in rs], marker="o", label=codec)
        axes[1].plot(budgets, [r["psnr_db"] for r in rs], marker="o", label=codec)
    for ax, label in zip(axes, ["MobileNetV2 top-1 agreement", "PSNR (dB)"]):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bytes per 224x224 frame")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].legend()
    fig.suptitle("Test split, 224x224: rate vs quality")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
