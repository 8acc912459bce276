"""The LimitNet architecture (Hojjat et al., MobiSys 2024), layer shapes as in the paper's code.

Encoder: 3->16 k7 s2, 16->16 k5 s4, 16->12 k3 (ReLU after each), so a HxW image gives a
12 x H/8 x W/8 latent. Saliency branch: five 3x3 convs on the latent (12-16-16-8-4-1, sigmoid).
Decoder: transposed convs 12->64 k7 s2, 64->64 k5 s4, then three 3x3 at full resolution (64-64-3).
Variants used by the shipped bundles: `LiteEncoder` + `LiteSaliencyBranch` (a cheaper stem,
same latent; limitnet-lite) and `FastDecoder` (sub-pixel; limitnet-lite and limitnet-fast).

The bitstream-side pieces (8x8 saliency grid, 5-bit saliency, priority key, 64-level quantization)
mirror docs/bitstream.md exactly so that training drops the same values the Rust codec drops.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

CHANNELS = 12
LEVELS = 64
SALIENCY_GRID = 8
SALIENCY_MAX = 31  # 5 bits
# The paper's priority sal + (C - c)/5, i.e. 5*s + 31*(C - c) with 5-bit s; a bundle may weigh
# saliency less (codec.json `saliency_weight`, docs/bitstream.md).
SALIENCY_WEIGHT = 5
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Encoder(nn.Module):
    """The paper's encoder; `conv1`, `conv2` replace its first two layers (see LiteEncoder)."""

    def __init__(self, conv1=None, conv2=None):
        super().__init__()
        self.conv1 = conv1 or nn.Conv2d(3, 16, 7, stride=2, padding=3)
        self.conv2 = conv2 or nn.Conv2d(16, 16, 5, stride=4, padding=1)
        self.conv3 = nn.Conv2d(16, CHANNELS, 3, stride=1, padding=1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, rgb01):
        x = (rgb01 - self.mean) / self.std
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return F.relu(self.conv3(x))


class LiteEncoder(Encoder):
    """A cheaper stem for the encoder-cost target: 4x4 patches (stride 4), then a strided 3x3,
    then the paper's last layer, so the same 12 x H/8 x W/8 latent (H, W multiples of 8).

    The paper's first layer (3->16 k7 s2, 29.5 M MAC at 224x224) alone costs ~2x jpegenc's whole
    frame on a desktop core; this stem is 2.4 M + 1.8 M MAC. Every layer reads a disjoint or
    small window, which also suits the microcontrollers the paper targets.
    """

    def __init__(self, stem=16):
        super().__init__(nn.Conv2d(3, stem, 4, stride=4), nn.Conv2d(stem, 16, 3, stride=2, padding=1))


class LiteSaliencyBranch(nn.Module):
    """Two 3x3 convs (12->16, 16->1 with dilation 2): a 7x7-cell receptive field on the latent
    (plus the encoder's own) for about half the ONNX Runtime time of the paper's five convs,
    which at 28x28 cost ~25 us each mostly in per-layer overhead, whatever their width."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(CHANNELS, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 1, 3, padding=2, dilation=2)

    def forward(self, latent):
        return torch.sigmoid(self.conv2(F.relu(self.conv1(latent))))


class SaliencyBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(CHANNELS, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, 8, 3, padding=1)
        self.conv4 = nn.Conv2d(8, 4, 3, padding=1)
        self.conv5 = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, latent):
        x = F.relu(self.conv1(latent))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        return torch.sigmoid(self.conv5(x))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.t_conv1 = nn.ConvTranspose2d(CHANNELS, 64, 7, stride=2, padding=3, output_padding=1)
        self.t_conv2 = nn.ConvTranspose2d(64, 64, 5, stride=4, padding=1, output_padding=1)
        self.t_conv3 = nn.ConvTranspose2d(64, 64, 3, stride=1, padding=1)
        self.t_conv4 = nn.ConvTranspose2d(64, 64, 3, stride=1, padding=1)
        self.t_conv5 = nn.ConvTranspose2d(64, 3, 3, stride=1, padding=1)

    def forward(self, latent):
        x = F.relu(self.t_conv1(latent))
        x = F.relu(self.t_conv2(x))
        x = F.relu(self.t_conv3(x))
        x = F.relu(self.t_conv4(x))
        return torch.sigmoid(self.t_conv5(x))


class ResBlock(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class FastDecoder(nn.Module):
    """Sub-pixel decoder: the heavy work at latent resolution, PixelShuffle to go up.

    The paper's decoder spends ~90 % of its 4.2 GMAC (224x224) on two 64-channel 3x3 convs at
    full resolution. Here residual blocks run at H/8 with `width` channels and each x2 step is
    one conv followed by PixelShuffle, so the cost is ~0.8 GMAC (0.81 M parameters) with more capacity
    where the information is (the latent grid).
    """

    def __init__(self, width=96, blocks=3):
        super().__init__()
        self.head = nn.Conv2d(CHANNELS, width, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(width) for _ in range(blocks)])
        self.up1 = nn.Conv2d(width, 64 * 4, 3, padding=1)  # -> 64 @ H/4
        self.conv1 = nn.Conv2d(64, 64, 3, padding=1)
        self.up2 = nn.Conv2d(64, 16 * 4, 3, padding=1)  # -> 16 @ H/2
        self.up3 = nn.Conv2d(16, 3 * 4, 3, padding=1)  # -> 3 @ H

    def forward(self, latent):
        x = F.relu(self.head(latent))
        x = F.relu(self.body(x))
        x = F.relu(F.pixel_shuffle(self.up1(x), 2))
        x = F.relu(self.conv1(x))
        x = F.relu(F.pixel_shuffle(self.up2(x), 2))
        return torch.sigmoid(F.pixel_shuffle(self.up3(x), 2))


DECODERS = {"paper": Decoder, "fast": FastDecoder}
# Encoder + saliency branch.
ENCODERS = {"paper": (Encoder, SaliencyBranch), "lite": (LiteEncoder, LiteSaliencyBranch)}


class LimitNet(nn.Module):
    def __init__(self, decoder="paper", encoder="paper", saliency_weight=SALIENCY_WEIGHT, levels=LEVELS):
        super().__init__()
        self.saliency_weight = saliency_weight  # the priority order's, exported to codec.json
        self.levels = levels  # quantization levels, exported to codec.json
        encoder_cls, saliency_cls = ENCODERS[encoder]
        self.encoder = encoder_cls()
        self.saliency = saliency_cls()
        self.decoder = DECODERS[decoder]()
        # Per-channel quantization range [0, latent_max] (ReLU latents start at 0). Tracked as an
        # EMA of a high percentile during training, frozen for the final steps and exported.
        self.register_buffer("latent_max", torch.ones(CHANNELS))
        self.register_buffer("latent_max_initialized", torch.tensor(False))

    @torch.no_grad()
    def update_latent_range(self, latent, momentum=0.99, q=0.999):
        flat = latent.detach().transpose(0, 1).reshape(CHANNELS, -1)
        if flat.shape[1] > 200_000:
            idx = torch.randint(0, flat.shape[1], (200_000,), device=flat.device)
            flat = flat[:, idx]
        cur = torch.quantile(flat.float(), q, dim=1).clamp_min(1e-3)
        if not bool(self.latent_max_initialized):
            self.latent_max.copy_(cur)
            self.latent_max_initialized.fill_(True)
        else:
            self.latent_max.mul_(momentum).add_(cur * (1 - momentum))

    def quantize(self, latent):
        """Quantization to `self.levels` levels with a straight-through gradient, as the Rust codec
        does it."""
        scale = self.latent_max.view(1, -1, 1, 1)
        q = torch.round(torch.clamp(latent / scale, 0, 1) * (self.levels - 1))
        deq = q * scale / (self.levels - 1)
        return latent + (deq - latent).detach()


def cell_matrix(n, grid=SALIENCY_GRID, device=None):
    """[grid, n] averaging matrix: latent row/col i belongs to cell i*grid//n (docs/bitstream.md)."""
    cells = (torch.arange(n, device=device) * grid) // n
    m = F.one_hot(cells, grid).T.float()
    counts = m.sum(1, keepdim=True).clamp_min(1)
    return m / counts, cells


def pool_saliency(sal):
    """[N,1,h,w] saliency in 0..1 -> [N,8,8] 5-bit integers, as the encoder sends them."""
    _, _, h, w = sal.shape
    my, _ = cell_matrix(h, device=sal.device)
    mx, _ = cell_matrix(w, device=sal.device)
    pooled = my @ sal[:, 0] @ mx.T
    return torch.round(pooled.clamp(0, 1) * SALIENCY_MAX).long()


def priorities_at(sal_at, channels=CHANNELS, saliency_weight=SALIENCY_WEIGHT):
    """Priority P = k*s + 31*(C - c) of every latent value [N,C,h,w] (docs/bitstream.md) from
    the 5-bit saliency of each position's cell `sal_at` [N,h,w], k the saliency weight: with
    k = 5 the paper priority sal + (C-c)/5 scaled by 155."""
    c = torch.arange(channels, device=sal_at.device).view(1, channels, 1, 1)
    return (saliency_weight * sal_at.unsqueeze(1) + 31 * (channels - c)).long()


def value_priorities(sal_q, h, w, channels=CHANNELS, saliency_weight=SALIENCY_WEIGHT):
    """`priorities_at` from the 8x8 map `sal_q` [N,8,8] of an h x w latent."""
    _, cy = cell_matrix(h, device=sal_q.device)
    _, cx = cell_matrix(w, device=sal_q.device)
    return priorities_at(sal_q[:, cy][:, :, cx], channels, saliency_weight)


def priority_keys(sal_q, h, w, channels=CHANNELS, saliency_weight=SALIENCY_WEIGHT):
    """Unique integer priority key per latent value [N,C,h,w]; larger is sent first.

    key = P * (C*h*w) + (C*h*w - 1 - (c*h*w + y*w + x)): ties broken by channel, row, column.
    """
    prio = value_priorities(sal_q, h, w, channels, saliency_weight)
    total = channels * h * w
    linear = torch.arange(total, device=sal_q.device).view(1, channels, h, w)
    return prio * total + (total - 1 - linear)


def coarse(q, refinement_bits):
    """The coarse level version 3 tables code for level q (docs/bitstream.md "Refinement"):
    (q + 2^r - 1) >> r, so level 0 stays exact; q itself with no refinement bits."""
    return (q + (1 << refinement_bits) - 1) >> refinement_bits


def coarse_interval(c, refinement_bits, levels=LEVELS):
    """The levels [lo, hi] coarse level c stands for (level 0 alone for c = 0)."""
    lo = ((c - 1) * (1 << refinement_bits) + 1).clamp_min(0)
    hi = (c * (1 << refinement_bits)).clamp_max(levels - 1)
    return lo, hi


def item_keys(prio, stages, delay):
    """Unique keys [N, stages, V] of version 3 items (stage j of value i, V values); larger is
    sent first. Item priority P(i) - j*D; ties by item number j*V + i (stage, then index)."""
    n = prio.shape[0]
    flat = prio.reshape(n, 1, -1)
    count = flat.shape[2]
    j = torch.arange(stages, device=prio.device).view(1, stages, 1)
    item = j * count + torch.arange(count, device=prio.device).view(1, 1, count)
    total = stages * count
    return (flat - j * delay) * total + (total - 1 - item)


def refined_levels(q, prio, counts, refinement_bits, delay, levels=LEVELS):
    """Levels [N,C,h,w] (float) a version 3 receiver reconstructs from the first counts[i] items
    of each frame: the middle of each value's known interval, 0 where nothing arrived
    (docs/bitstream.md "Refinement"; the Rust decoder's `dequantize_between`)."""
    return refined_items(q, prio, counts, refinement_bits, delay, levels)[0]


def refined_items(q, prio, counts, refinement_bits, delay, levels=LEVELS):
    """`refined_levels` and the mask [N,C,h,w] of the values whose coarse level arrived (a
    signed layer's values that did not arrive decode to 0, not to level 0's value)."""
    n = q.shape[0]
    stages = refinement_bits + 1
    sent = keep_mask(item_keys(prio, stages, delay), counts)  # [N, stages, V]
    # A stage never comes before the previous one of its value (lower or equal priority, later
    # number), so the received stages of a value are its first `got`.
    got = sent.sum(1)
    qf = q.reshape(n, -1)
    lo, hi = coarse_interval(coarse(qf, refinement_bits), refinement_bits, levels)
    for j in range(1, stages):
        mid = (lo + hi) // 2
        step, up = got > j, qf > mid
        lo = torch.where(step & up, mid + 1, lo)
        hi = torch.where(step & ~up, mid, hi)
    refined = torch.where(got > 0, (lo + hi).float() / 2, torch.zeros_like(lo, dtype=torch.float)).view_as(q)
    return refined, (got > 0).view_as(q)


def keep_mask(keys, keep_counts):
    """Mask [N,C,h,w] of the first keep_counts[i] values in priority order."""
    n = keys.shape[0]
    flat = keys.view(n, -1)
    ranks = torch.argsort(torch.argsort(flat, dim=1, descending=True), dim=1)
    return (ranks < keep_counts.view(n, 1)).view_as(keys)
