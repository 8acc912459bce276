"""The training pipeline's priority order and context rule on real latents, for the Rust tests.

Training cuts latents in the bitstream's priority order (`model.priority_keys`; for version 3
bundles the order of items, `model.item_keys`) and builds the code tables with its context rule
(`export.value_contexts`); the Rust codec has its own
`priority_order` and `value_contexts`. If the two ever disagreed, models would be trained on
and tabled for an order the codec does not send. This writes what the Python side computes
on real latents (the default bundle's encoder run in torch on the test photos, whole and
cropped to sizes that are not multiples of the 8x8 saliency grid); `limitnet/tests/
training_rules.rs` checks that Rust computes the same from the same saliency maps and levels.

  python -m limitnet_train.rules_fixture --bundle ../models/limitnet-lite \
      --out ../limitnet/tests/data/training-rules.json

training/smoke_test.sh regenerates it in a temporary file and runs the Rust test on that
(`LIMITNET_RULES_FIXTURE`), so a change on either side is caught.
"""

import argparse
import json

import numpy as np
import torch
from PIL import Image

from .export import value_contexts
from .model import cell_matrix, coarse, item_keys, pool_saliency, priority_keys, value_priorities
from .resilience import load_bundle

# (photo, crop box (x, y, w, h) or None): sizes whose latent grids are not multiples of 8.
CASES = [
    ("coffee-224.png", None),
    ("chelsea-224.png", (8, 40, 160, 96)),  # 20 x 12 latent
    ("astronaut-224.png", (0, 0, 200, 104)),  # 25 x 13 latent
]


@torch.no_grad()
def case(model, image):
    latent = model.encoder(image)
    _, c, h, w = latent.shape
    scale = model.latent_max.view(1, -1, 1, 1)
    q = torch.round(torch.clamp(latent / scale, 0, 1) * (model.levels - 1)).long()
    # Version 3 tables code coarse levels; the contexts come from those.
    q = coarse(q, model.refinement_bits)
    sal = pool_saliency(model.saliency(latent))  # [1, 8, 8]
    assert c * h * w < 65536, "the fixture stores ranks as u16"
    order = torch.argsort(priority_keys(sal, h, w, saliency_weight=model.saliency_weight).view(-1), descending=True)
    _, cy = cell_matrix(h)
    _, cx = cell_matrix(w)
    contexts = value_contexts(q, sal[:, cy][:, :, cx], model.context_edges)
    items = {}
    if model.refinement_bits:
        # Version 3: the order of all items (coarse levels, then refinement bits), which the
        # decoder fine-tune cuts (`model.refined_levels`).
        prio = value_priorities(sal, h, w, saliency_weight=model.saliency_weight)
        keys = item_keys(prio, model.refinement_bits + 1, model.refinement_delay)
        assert keys.numel() < 65536, "the fixture stores item numbers as u16"
        items["item_order"] = torch.argsort(keys.view(-1), descending=True).numpy().astype("<u2").tobytes().hex()
    return {
        **items,
        "h": h,
        "w": w,
        "saliency": sal.view(-1).tolist(),
        "levels": bytes(q.view(-1).to(torch.uint8).tolist()).hex(),  # the coded (coarse) levels
        "order": order.numpy().astype("<u2").tobytes().hex(),  # u16 little-endian
        "contexts": bytes(contexts.view(-1).to(torch.uint8).tolist()).hex(),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--photos", default="../tests/data")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    model = load_bundle(args.bundle).eval()
    cases = []
    for name, box in CASES:
        im = Image.open(f"{args.photos}/{name}").convert("RGB")
        if box:
            x, y, w, h = box
            im = im.crop((x, y, x + w, y + h))
        t = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float().div(255)[None]
        cases.append({"name": f"{name} {im.size[0]}x{im.size[1]}", **case(model, t)})
    with open(args.out, "w") as f:
        json.dump({"made_by": "python -m limitnet_train.rules_fixture", "cases": cases}, f)
    print(f"wrote {args.out}: {', '.join(c['name'] for c in cases)}")


if __name__ == "__main__":
    main()
