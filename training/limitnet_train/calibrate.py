"""Activation ranges of limitnet-lite's encoder for the fixed-point sender (issue 14).

The microcontroller sender (limitnet/src/sender/fixed.rs) runs the encoder and saliency branch
with int8 weights and 8-bit activations: each ReLU output is stored as round(a / scale) in
0..255, scale = range / 255. This measures each range on training photos (the training split
only: centre crops of every photo and random crops at random scales, at 224x224, as the codec
tables are made) as a high percentile of the activations, so that rare outliers saturate
instead of coarsening every value, and writes them beside the bundle:

  python -m limitnet_train.calibrate --bundle ../models/limitnet-lite --data ../data

-> BUNDLE/sender-calibration.json (not part of the model id: the network is unchanged). Then
`LIMITNET_WRITE_SENDER_WEIGHTS=1 cargo test -p limitnet sender` regenerates the Rust weights.
"""

import argparse
import hashlib
import json
import math
import os
import random

import torch
import torch.nn.functional as F

from .data import PhotoSet
from .resilience import load_bundle

PERCENTILE = 99.99
SAMPLES_PER_IMAGE = 12_500


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--data", default="../data")
    ap.add_argument("--random-crops", type=int, default=256)
    args = ap.parse_args()
    model = load_bundle(args.bundle).eval()
    train = PhotoSet(args.data, "train")
    rng = random.Random(11)
    torch.manual_seed(11)  # the activation samples: the same ranges every run
    images = torch.cat([train.center_crops(224)] + [train.sample(32, 224, rng)[0] for _ in range(args.random_crops // 32)])
    acts = {"conv1": [], "conv2": [], "conv3": [], "saliency1": []}
    enc, sal = model.encoder, model.saliency
    for i in range(0, len(images), 16):
        x = (images[i : i + 16] - enc.mean) / enc.std
        a1 = F.relu(enc.conv1(x))
        a2 = F.relu(enc.conv2(a1))
        a3 = F.relu(enc.conv3(a2))
        s1 = F.relu(sal.conv1(a3))
        for name, a in (("conv1", a1), ("conv2", a2), ("conv3", a3), ("saliency1", s1)):
            # The same number of samples per image, whatever the batch.
            flat = a.flatten()
            acts[name].append(flat[torch.randint(0, flat.numel(), (SAMPLES_PER_IMAGE * len(a),))])
    ranges = {}
    for name, parts in acts.items():
        values = torch.cat(parts)
        # kthvalue, not quantile: torch.quantile refuses more than 2^24 values.
        k = max(1, math.ceil(PERCENTILE / 100 * values.numel()))
        ranges[name] = {
            "range": round(float(values.kthvalue(k).values), 6),
            "max": round(float(values.max()), 6),
        }
    out = {
        "format": "limitnet-sender-calibration",
        "made_by": "python -m limitnet_train.calibrate",
        # Which network these ranges belong to: the Rust weights test refuses another.
        "encoder_sha256": hashlib.sha256(open(os.path.join(args.bundle, "encoder.onnx"), "rb").read()).hexdigest(),
        "photos": f"{len(images)} crops of the {len(train)} training photos at 224x224",
        "percentile": PERCENTILE,
        "activations": ranges,
    }
    path = os.path.join(args.bundle, "sender-calibration.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: " + ", ".join(f"{k} {v['range']} (max {v['max']})" for k, v in ranges.items()))


if __name__ == "__main__":
    main()
