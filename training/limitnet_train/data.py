"""Photos and saliency labels from data/ (made by training/prepare_data.py and saliency_labels.py)."""

import json
import os
import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def load_split(data_dir):
    with open(os.path.join(data_dir, "split.json")) as f:
        return json.load(f)


def load_photo(data_dir, name):
    img = np.asarray(Image.open(os.path.join(data_dir, "photos", name)).convert("RGB"))
    return torch.from_numpy(img.copy()).permute(2, 0, 1).contiguous()  # uint8 [3,H,W]


def load_saliency(data_dir, name):
    path = os.path.join(data_dir, "saliency", name)
    if not os.path.exists(path):
        return None
    m = np.asarray(Image.open(path).convert("L"))
    return torch.from_numpy(m.copy()).unsqueeze(0).contiguous()  # uint8 [1,H,W]


class PhotoSet:
    """All photos of one split held in memory; random crops at random scales."""

    def __init__(self, data_dir, split, need_saliency=False):
        names = load_split(data_dir)[split]
        self.items = []
        for n in names:
            sal = load_saliency(data_dir, n)
            if need_saliency and sal is None:
                continue
            img = load_photo(data_dir, n)
            if sal is not None and sal.shape[1:] != img.shape[1:]:
                sal = F.interpolate(sal[None].float(), size=img.shape[1:], mode="bilinear")[0].round().byte()
            self.items.append((n, img, sal))
        if not self.items:
            raise SystemExit(f"no usable photos in split {split} under {data_dir}")

    def __len__(self):
        return len(self.items)

    def sample(self, batch, crop, rng=random):
        imgs, sals = [], []
        for _ in range(batch):
            _, img, sal = self.items[rng.randrange(len(self.items))]
            _, h, w = img.shape
            short = min(h, w)
            region = rng.randint(min(crop, short), short) if short > crop else short
            y = rng.randint(0, h - region)
            x = rng.randint(0, w - region)
            im = img[:, y : y + region, x : x + region].float().div(255)
            sm = None if sal is None else sal[:, y : y + region, x : x + region].float().div(255)
            if region != crop:
                im = F.interpolate(im[None], size=(crop, crop), mode="bilinear", antialias=True, align_corners=False)[0]
                if sm is not None:
                    sm = F.interpolate(sm[None], size=(crop, crop), mode="bilinear", antialias=True, align_corners=False)[0]
            if rng.random() < 0.5:
                im = im.flip(-1)
                sm = None if sm is None else sm.flip(-1)
            imgs.append(im.clamp(0, 1))
            sals.append(sm.clamp(0, 1) if sm is not None else torch.zeros(1, crop, crop))
        return torch.stack(imgs), torch.stack(sals)

    def center_crops(self, size):
        """Deterministic evaluation crops: the photo's short side scaled to `size`, centre crop."""
        out = []
        for _, img, sal in self.items:
            _, h, w = img.shape
            s = min(h, w)
            y, x = (h - s) // 2, (w - s) // 2
            im = img[:, y : y + s, x : x + s].float().div(255)[None]
            im = F.interpolate(im, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
            out.append(im.clamp(0, 1))
        return torch.stack(out)
