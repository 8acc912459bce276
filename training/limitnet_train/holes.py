"""Packet-loss holes in the latent, as a receiver sees them (issue 13): which values a lost
packet takes away (runs of consecutive ranks), and `conceal`, a batched torch port of the Rust
receiver's `conceal_holes` (limitnet/src/codec/packet.rs). Used by phase 4
(`limitnet_train.resilience`) and by `train.py --hole-share`."""

import torch
import torch.nn.functional as F

SMOOTHING_PASSES = 20  # as limitnet/src/codec/packet.rs
# Values per packet at the default bundle's ~3.7 bits per value: a 51-byte LoRa payload
# carries ~100 (3 bytes of packet header), a 222-byte one ~470.
RUN_LENGTHS = ((100, 0.7), (470, 0.3))
NEIGHBOURS = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)


def loss_runs(n_values, rng):
    """Which packets of a frame of `n_values` values are lost: (values per packet, one bool per
    packet), packets of consecutive ranks, lost at random or in Gilbert-Elliott bursts. Python
    works per packet, not per value, so this keeps up with a GPU."""
    run = max(20, round(rng.choices([r for r, _ in RUN_LENGTHS], [w for _, w in RUN_LENGTHS])[0] * rng.uniform(0.8, 1.2)))
    if rng.random() < 0.3:
        # Gilbert-Elliott: a good state that rarely loses, a bad one that mostly does.
        p_gb, p_bg = rng.uniform(0.02, 0.15), rng.uniform(0.2, 0.6)
        bad = rng.random() < p_gb / (p_gb + p_bg)
        loss_good, loss_bad = rng.uniform(0.0, 0.05), rng.uniform(0.5, 1.0)
    else:
        p = rng.uniform(0.02, 0.4)
        p_gb = p_bg = 0.0
        bad = False
        loss_good = loss_bad = p
    lost = []
    for _ in range(0, n_values, run):
        lost.append(rng.random() < (loss_bad if bad else loss_good))
        bad = (rng.random() >= p_bg) if bad else (rng.random() < p_gb)
    return run, lost


@torch.no_grad()
def conceal(latent, received, lost):
    """`conceal_holes` on a batch: lost values take the mean of their received (or already
    concealed) same-channel 4-neighbours, from the edges of each hole inwards, then smoothing.
    Sweeps are simultaneous here (the Rust code updates in place): close enough to train on."""
    n, c, h, w = latent.shape
    kernel = NEIGHBOURS.to(latent.device).expand(c, 1, 3, 3)
    known = received.float()
    holes = lost.clone()
    x = latent * known
    while True:
        total = F.conv2d(x * known, kernel, padding=1, groups=c)
        count = F.conv2d(known, kernel, padding=1, groups=c)
        fill = holes & (count > 0)
        if not bool(fill.any()):
            break
        x = torch.where(fill, total / count.clamp_min(1), x)
        known = known + fill.float()
        holes = holes & ~fill
    filled = lost & ~holes
    for _ in range(SMOOTHING_PASSES):
        total = F.conv2d(x * known, kernel, padding=1, groups=c)
        count = F.conv2d(known, kernel, padding=1, groups=c)
        x = torch.where(filled & (count > 0), total / count.clamp_min(1), x)
    return x


def packet_loss(ranks, count, rng, fixed=None):
    """(sent, lost) masks over one latent's values, given each value's rank in priority order:
    the first `count` ranks are sent, and runs of them (packets) are lost as `loss_runs` draws,
    or with `fixed` = (probability, run length)."""
    if fixed is None:
        run, lost_packets = loss_runs(count, rng)
    else:
        p, run = fixed
        lost_packets = [rng.random() < p for _ in range(0, count, run)]
    by_rank = torch.tensor(lost_packets, device=ranks.device).repeat_interleave(run)[:count]
    sent = ranks < count
    lost = torch.zeros_like(sent)
    lost[sent] = by_rank[ranks[sent]]
    return sent, lost


def with_packet_loss(latent, keys, mask, share, rng, fixed=None):
    """Turns a `share` of a batch's cut latents (`mask`: the values sent, from `keep_mask`) into
    latents that lost packets on the way, concealed as the receiver conceals them; `fixed`
    (loss probability, run length): every sample, the whole frame sent. Returns the latent and
    the mask of values the decoder gets (received or concealed). Gradients flow through the
    received values; the concealed ones are a fixed fill."""
    n, c, h, w = latent.shape
    total = c * h * w
    received = mask.clone().view(n, total)
    lost = torch.zeros_like(received)
    ranks = None
    for i in range(n):
        if fixed is None and rng.random() >= share:
            continue
        if ranks is None:
            ranks = torch.argsort(torch.argsort(keys.view(n, -1), dim=1, descending=True), dim=1)
        # The frame as sent: whole (most LPWAN senders send all of it) or cut by max-bytes.
        whole = fixed is not None or rng.random() < 0.7
        count = total if whole else max(1, int(rng.uniform(0.1, 1.0) * total))
        sent, lost_i = packet_loss(ranks[i], count, rng, fixed)
        received[i] = sent & ~lost_i
        lost[i] = lost_i
    if ranks is None:
        return latent, mask
    received, lost = received.view(n, c, h, w), lost.view(n, c, h, w)
    filled = conceal(latent.detach(), received, lost)
    return torch.where(lost, filled, latent), received | lost
