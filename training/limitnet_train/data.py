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


class DevicePhotoSet:
    """A PhotoSet held on a device (a GPU) as one padded tensor; whole batches of random crops
    are cut and scaled in one `roi_align` call (which averages ceil(region/crop)^2 samples per
    output pixel, so downscaling is antialiased), instead of per-crop interpolation on the CPU.
    Same distribution as `PhotoSet.sample`: region side uniform in [crop, short side], random
    position, horizontal flip with p=0.5."""

    def __init__(self, photos, device):
        self.device = device
        hmax = max(img.shape[1] for _, img, _ in photos.items)
        wmax = max(img.shape[2] for _, img, _ in photos.items)
        n = len(photos.items)
        # 3 colour planes + 1 saliency plane per photo.
        self.planes = torch.zeros(n, 4, hmax, wmax, device=device)
        sizes = []
        for i, (_, img, sal) in enumerate(photos.items):
            _, h, w = img.shape
            self.planes[i, :3, :h, :w] = img.to(device).float().div(255)
            if sal is not None:
                self.planes[i, 3, :h, :w] = sal[0].to(device).float().div(255)
            sizes.append((h, w))
        self.sizes = torch.tensor(sizes, dtype=torch.float32, device=device)

    def __len__(self):
        return self.planes.shape[0]

    def sample(self, batch, crop, generator=None):
        from torchvision.ops import roi_align

        dev = self.device
        idx = torch.randint(0, len(self), (batch,), device=dev, generator=generator)
        h, w = self.sizes[idx, 0], self.sizes[idx, 1]
        short = torch.minimum(h, w)
        u = torch.rand(batch, 3, device=dev, generator=generator)
        region = torch.where(short > crop, crop + (short - crop) * u[:, 0], short).floor()
        y = ((h - region + 1) * u[:, 1]).floor().clamp_max(h - region)
        x = ((w - region + 1) * u[:, 2]).floor().clamp_max(w - region)
        boxes = torch.stack([idx.float(), x, y, x + region, y + region], 1)
        out = roi_align(self.planes, boxes, output_size=crop, spatial_scale=1.0, sampling_ratio=-1, aligned=True)
        flip = torch.rand(batch, device=dev, generator=generator) < 0.5
        out = torch.where(flip.view(-1, 1, 1, 1), out.flip(-1), out).clamp(0, 1)
        return out[:, :3].contiguous(), out[:, 3:].contiguous()
