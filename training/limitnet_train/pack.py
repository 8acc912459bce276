"""A compact copy of the training data for a GPU machine that cannot see data/ (at most 64 MiB
travels there): train and val photos with the short side scaled to at most `--short` px, saved
as JPEG with their saliency labels, the split, and the MobileNetV2 teacher weights.

Usage: python -m limitnet_train.pack --data ../data --out ../gpu_pack   (then scripts/train_gpu.sh)
The test split stays behind: evaluation runs here, on the original photos.
"""

import argparse
import json
import os
import shutil

from PIL import Image

from .data import load_split
from .train import teacher_weights


def scaled(img, short):
    w, h = img.size
    if min(w, h) <= short:
        return img
    f = short / min(w, h)
    return img.resize((round(w * f), round(h * f)), Image.LANCZOS)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data")
    ap.add_argument("--out", required=True)
    ap.add_argument("--short", type=int, default=512)
    ap.add_argument("--quality", type=int, default=92)
    args = ap.parse_args()

    split = load_split(args.data)
    packed = {"train": [], "val": [], "test": []}
    for sub in ("photos", "saliency"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    for part in ("train", "val"):
        for name in split[part]:
            jpg = os.path.splitext(name)[0] + ".jpg"
            img = scaled(Image.open(os.path.join(args.data, "photos", name)).convert("RGB"), args.short)
            img.save(os.path.join(args.out, "photos", jpg), quality=args.quality)
            sal_path = os.path.join(args.data, "saliency", name)
            if os.path.exists(sal_path):
                sal = Image.open(sal_path).convert("L").resize(img.size, Image.BILINEAR)
                sal.save(os.path.join(args.out, "saliency", jpg), quality=args.quality)
            packed[part].append(jpg)
    with open(os.path.join(args.out, "split.json"), "w") as f:
        json.dump(packed, f)
    shutil.copy(teacher_weights(), os.path.join(args.out, "teacher.pth"))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.out) for f in fs)
    print(f"packed {len(packed['train'])} train + {len(packed['val'])} val photos into {args.out}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
