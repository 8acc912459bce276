"""Export a trained checkpoint as a gst-limitnet model bundle (docs/bitstream.md, "Model bundle").

  models/<name>/encoder.onnx   image [N,3,H,W] RGB 0..1 -> latent [N,12,H/8,W/8], saliency [N,1,H/8,W/8]
  models/<name>/decoder.onnx   latent [N,12,H/8,W/8] -> image [N,3,H,W] RGB 0..1
  models/<name>/codec.json     quantization ranges and per-channel, per-context Huffman code lengths

Usage: python -m limitnet_train.export --ckpt training/checkpoints/paper/final.pt \
           --data data --out models/limitnet-paper
       python -m limitnet_train.export --bundle models/limitnet-lite --levels 32 --data data --out DIR
           (new code tables for a bundle's graphs, which are copied unchanged: another level
           count or saliency weight for the same networks)
       python -m limitnet_train.export --bundle models/limitnet-lite --refinement-bits 2 \
           --refinement-delay 31 --data data --out DIR
           (version 3 tables: coarse levels first, refinement bits later; docs/bitstream.md)
"""

import argparse
import heapq
import json
import os
import shutil

import torch

from .data import PhotoSet
from .model import CHANNELS, LEVELS, SALIENCY_GRID, SALIENCY_WEIGHT, LimitNet, cell_matrix, coarse, coarse_interval, pool_saliency

MAX_CODE_LENGTH = 15


class EncoderGraph(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.encoder = model.encoder
        self.saliency = model.saliency

    def forward(self, image):
        latent = self.encoder(image)
        return latent, self.saliency(latent)


def huffman_lengths(counts):
    """Code lengths (1..15) of a Huffman code for `counts`, every symbol coded.

    Counts get +1 so every symbol has a code; while the longest code is too long, counts are
    halved (keeping >= 1), the usual simple length limiting."""
    counts = [c + 1 for c in counts]
    while True:
        heap = [(c, i, (i,)) for i, c in enumerate(counts)]
        heapq.heapify(heap)
        lengths = [0] * len(counts)
        tie = len(counts)
        while len(heap) > 1:
            c1, _, s1 = heapq.heappop(heap)
            c2, _, s2 = heapq.heappop(heap)
            for s in s1 + s2:
                lengths[s] += 1
            heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
            tie += 1
        if max(lengths) <= MAX_CODE_LENGTH:
            return lengths
        counts = [max(1, c // 2) for c in counts]


# Contexts of the version 2 tables (docs/bitstream.md "Values"): a value's code depends on its
# left and upper neighbours in the same channel, where those were sent before it.
CONTEXT_EDGES = [1, 3, 8, 16, 32]

# Version 4's range coder: frequency tables add up to 2**PROB_BITS (docs/bitstream.md "Range coding").
PROB_BITS = 15


def context_edges(levels):
    """CONTEXT_EDGES (for 64 levels) scaled to `levels` (2..64): increasing, in 1..levels-1,
    fewer of them when the levels are too few to keep them apart."""
    if not 2 <= levels <= LEVELS:
        raise SystemExit(f"{levels} levels: 2..{LEVELS} supported")
    edges = []
    for e in CONTEXT_EDGES:
        edge = max(round(e * levels / LEVELS), edges[-1] + 1 if edges else 1)
        if edge < levels:
            edges.append(edge)
    return edges


def value_contexts(q, sal_cells, edges=CONTEXT_EDGES):
    """Context (0..len(edges)+1) of every value of quantized latents q [N,C,h,w].

    sal_cells [N,h,w] is each position's 5-bit cell saliency. A same-channel neighbour precedes a
    value in priority order exactly when its cell saliency is >= the value's (same channel term,
    lower index), so both sides know it. Context 0: neither neighbour known; otherwise
    1 + the number of edges <= m, with m the known neighbour's level or (left + up + 1) // 2."""
    s = sal_cells.unsqueeze(1)
    left_known = torch.zeros_like(q, dtype=torch.bool)
    left_known[..., 1:] = (s[..., :-1] >= s[..., 1:]).expand_as(q[..., 1:])
    up_known = torch.zeros_like(q, dtype=torch.bool)
    up_known[..., 1:, :] = (s[..., :-1, :] >= s[..., 1:, :]).expand_as(q[..., 1:, :])
    left = torch.zeros_like(q)
    left[..., 1:] = q[..., :-1]
    up = torch.zeros_like(q)
    up[..., 1:, :] = q[..., :-1, :]
    m = torch.where(left_known & up_known, (left + up + 1) // 2, torch.where(left_known, left, up))
    bucket = torch.bucketize(m, torch.tensor(edges), right=True)
    return torch.where(left_known | up_known, 1 + bucket, torch.zeros_like(bucket))


def coarse_levels(levels, refinement_bits):
    """How many coarse levels `levels` levels have with `refinement_bits` refinement bits."""
    return coarse(levels - 1, refinement_bits) + 1


def quantized_latents(model, images, levels):
    """Levels [N,C,h,w] of the latents of `images` quantized to `levels`, and each position's
    5-bit cell saliency [N,h,w], as the encoder sends them."""
    lat = model.encoder(images)
    sal = pool_saliency(model.saliency(lat))  # [N,8,8]
    _, _, h, w = lat.shape
    _, cy = cell_matrix(h)
    _, cx = cell_matrix(w)
    q = torch.round(torch.clamp(lat / model.latent_max.view(1, -1, 1, 1), 0, 1) * (levels - 1)).long()
    return q, sal[:, cy][:, :, cx]


@torch.no_grad()
def latent_histograms(model, images, levels=LEVELS, refinement_bits=0, bit_counts=None):
    """Counts [C, contexts, coded levels] of the latents of `images` quantized to `levels`:
    of the levels, or with refinement bits of the coarse levels, the symbols the codes code
    (and the refinement bits into `bit_counts`, see `level_histograms`)."""
    batches = (quantized_latents(model, images[i : i + 8], levels) for i in range(0, len(images), 8))
    return level_histograms(batches, CHANNELS, levels, refinement_bits, bit_counts)


def new_bit_counts(channels, levels, refinement_bits):
    """An empty `bit_counts` for `level_histograms`."""
    return torch.zeros(channels, coarse_levels(levels, refinement_bits), (1 << refinement_bits) - 1, 2,
                       dtype=torch.long)


def refinement_counts(q, levels, refinement_bits, counts):
    """Adds to `counts` [C, coarse levels, 2^r - 1 nodes, 2] the refinement bits of levels q
    [N,C,h,w] by channel, coarse level and node of the coarse level's tree (docs/bitstream.md
    "Range coding"; `Refinement::node` on the Rust side): the version 4 bit probabilities."""
    r = refinement_bits
    c = coarse(q, r)
    lo, hi = coarse_interval(c, r, levels)
    first = lo
    chan = torch.arange(q.shape[1]).view(1, -1, 1, 1).expand_as(q)
    for stage in range(1, r + 1):
        open_ = lo < hi
        mid = lo + (hi - lo) // 2
        bit = (q > mid).long()
        node = (1 << (stage - 1)) - 1 + ((lo - first) >> (r - stage + 1))
        counts.index_put_((chan[open_], c[open_], node[open_], bit[open_]),
                          torch.ones(int(open_.sum()), dtype=counts.dtype), accumulate=True)
        lo = torch.where(open_ & (bit == 1), mid + 1, lo)
        hi = torch.where(open_ & (bit == 0), mid, hi)


def refinement_zeros(counts, total=1 << PROB_BITS):
    """Version 4's `refinement_zeros` from `refinement_counts`: the frequency (1..total-1) of a
    0 bit at each node, from counts + 0.5."""
    zeros = ((counts[..., 0].double() + 0.5) / (counts.sum(-1).double() + 1) * total).round()
    return zeros.clamp(1, total - 1).long().tolist()


def level_histograms(batches, channels, levels=LEVELS, refinement_bits=0, bit_counts=None):
    """`latent_histograms` of quantized latents given as (levels [N,C,h,w], cell saliency
    [N,h,w]) batches; with `bit_counts` [C, coarse levels, 2^r - 1, 2], their refinement bits
    are counted into it too."""
    coded = coarse_levels(levels, refinement_bits)
    edges = context_edges(coded)
    contexts = len(edges) + 2
    hist = torch.zeros(channels, contexts, coded, dtype=torch.long)
    for q, sal_cells in batches:
        if bit_counts is not None:
            refinement_counts(q, levels, refinement_bits, bit_counts)
        q = coarse(q, refinement_bits)
        ctx = value_contexts(q, sal_cells, edges)
        for c in range(channels):
            hist[c] += torch.bincount((ctx[:, c] * coded + q[:, c]).flatten(),
                                      minlength=contexts * coded).view(contexts, coded)
    return hist


def range_frequencies(counts, total=1 << PROB_BITS):
    """Frequencies (each >= 1, adding up to `total`) of the version 4 range coder for `counts`:
    proportional to count + 0.5, so a level never seen in the training crops stays codable."""
    smoothed = [c + 0.5 for c in counts]
    scale = total / sum(smoothed)
    freqs = [max(1, int(c * scale)) for c in smoothed]
    top = max(range(len(freqs)), key=lambda i: (freqs[i], -i))
    freqs[top] += total - sum(freqs)
    assert freqs[top] >= 1 and sum(freqs) == total
    return freqs


def codec_tables(hist, levels, latent_min, latent_max, saliency_weight, refinement_bits=0, refinement_delay=0,
                 bit_counts=None):
    """codec.json (docs/bitstream.md "Model bundle") with Huffman codes for the histograms
    `hist` [C, contexts, coded levels] (and given the refinement `bit_counts`, version 4 with
    the range coder's tables), and a line on the mean bits per value they give."""
    channels = hist.shape[0]
    lengths = [[huffman_lengths(hist[c, k].tolist()) for k in range(hist.shape[1])] for c in range(channels)]
    total = hist.sum().clamp_min(1).item()
    bits = sum((hist[c, k] * torch.tensor(lengths[c][k])).sum().item()
               for c in range(channels) for k in range(hist.shape[1]))
    flat = hist.sum(1)
    flat_bits = sum((flat[c] * torch.tensor(huffman_lengths(flat[c].tolist()))).sum().item() for c in range(channels))
    codec = {
        "format": "limitnet-codec",
        "version": 2,
        "channels": channels,
        "downsample": 8,
        "levels": levels,
        "saliency_grid": SALIENCY_GRID,
        "saliency_bits": 5,
        "latent_min": [round(float(v), 6) for v in latent_min],
        "latent_max": [round(float(v), 6) for v in latent_max],
        "context_edges": context_edges(coarse_levels(levels, refinement_bits)),
        "code_lengths": lengths,
    }
    if saliency_weight != SALIENCY_WEIGHT:
        codec["saliency_weight"] = saliency_weight
    if refinement_bits:
        codec["version"] = 3
        codec["refinement_bits"] = refinement_bits
        codec["refinement_delay"] = refinement_delay
    summary = ""
    if bit_counts is not None:
        assert refinement_bits, "version 4 tables code coarse levels: give refinement bits"
        codec["version"] = 4
        codec["frequencies"] = [[range_frequencies(hist[c, k].tolist()) for k in range(hist.shape[1])]
                                for c in range(channels)]
        ideal = sum((hist[c, k] * (PROB_BITS - torch.log2(torch.tensor(codec["frequencies"][c][k],
                                                                       dtype=torch.float64)))).sum().item()
                    for c in range(channels) for k in range(hist.shape[1]))
        codec["refinement_zeros"] = refinement_zeros(bit_counts)
        zero = torch.tensor(codec["refinement_zeros"], dtype=torch.float64) / (1 << PROB_BITS)
        bit_bits = -(bit_counts[..., 0] * torch.log2(zero) + bit_counts[..., 1] * torch.log2(1 - zero)).sum().item()
        summary = (f"range coded {ideal / total:.3f} bits/value + {bit_bits / total:.3f} in refinement bits "
                   f"({bit_counts.sum().item() / total:.3f} raw); ")
    summary += (f"mean {bits / total:.3f} bits/value with contexts, {flat_bits / total:.3f} without; "
               f"P(q=0) per channel {[round(v, 2) for v in (flat[:, 0] / flat.sum(1)).tolist()]}")
    return codec, summary


def table_images(data, count):
    """Images the code tables are built on, from the training split only: its centre crops
    plus `count` random crops at 224."""
    import random

    train = PhotoSet(data, "train")
    crops = [train.center_crops(224)]
    rng = random.Random(7)
    for _ in range(max(1, count // 32)):
        crops.append(train.sample(32, 224, rng)[0])
    return torch.cat(crops)


def export_onnx(module, args, path, input_names, output_names, dynamic_shapes):
    torch.onnx.export(
        module,
        args,
        path,
        input_names=input_names,
        output_names=output_names,
        dynamic_shapes=dynamic_shapes,
        external_data=False,
        dynamo=True,
    )


def export_graphs(model, out):
    """encoder.onnx and decoder.onnx of `model` into `out`."""
    n, h, w = torch.export.Dim("n", min=1, max=64), torch.export.Dim("h8", min=1, max=1024), torch.export.Dim("w8", min=1, max=1024)
    export_onnx(
        EncoderGraph(model),
        (torch.rand(1, 3, 224, 224),),
        os.path.join(out, "encoder.onnx"),
        ["image"],
        ["latent", "saliency"],
        {"image": {0: n, 2: 8 * h, 3: 8 * w}},
    )
    export_onnx(
        model.decoder,
        (torch.rand(1, CHANNELS, 28, 28),),
        os.path.join(out, "decoder.onnx"),
        ["latent"],
        ["image"],
        {"latent": {0: n, 2: h, 3: w}},
    )


def main():
    ap = argparse.ArgumentParser()
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--ckpt", help="a training checkpoint")
    source.add_argument("--bundle", help="a bundle directory whose graphs are kept (limitnet-lite's architecture: "
                                         "lite encoder, fast decoder)")
    ap.add_argument("--levels", type=int, default=None,
                    help="quantization levels (2..64) of the code tables (default: the checkpoint's or bundle's)")
    ap.add_argument("--saliency-weight", type=int, default=None,
                    help="the priority order's saliency weight (default: the checkpoint's or bundle's)")
    ap.add_argument("--refinement-bits", type=int, default=0,
                    help="version 3 tables: values sent as a coarse level first and this many refinement "
                         "bits later (0: version 2, values whole)")
    ap.add_argument("--refinement-delay", type=int, default=31,
                    help="version 3: priority units (31 per channel) each refinement stage comes after the last "
                         "(limitnet-lite: 31)")
    ap.add_argument("--range-coded", action="store_true",
                    help="version 4 tables: frames range coded with frequencies from the same histograms "
                         "(needs --refinement-bits)")
    ap.add_argument("--data", default="data")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default=None)
    ap.add_argument("--table-crops", type=int, default=400, help="random training crops for the code tables")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    if args.bundle:
        from .resilience import load_bundle

        model = load_bundle(args.bundle).eval()
        for graph in ("encoder.onnx", "decoder.onnx"):
            if os.path.abspath(args.bundle) != os.path.abspath(args.out):
                shutil.copyfile(os.path.join(args.bundle, graph), os.path.join(args.out, graph))
    else:
        ck = torch.load(args.ckpt, map_location="cpu")
        state = ck.get("state", {})
        model = LimitNet(state.get("arch", "paper"), state.get("encoder", "paper"),
                         state.get("saliency_weight", SALIENCY_WEIGHT), state.get("levels", LEVELS))
        model.load_state_dict(ck["model"])
        model.eval()
        export_graphs(model, args.out)
    if args.saliency_weight is not None:
        model.saliency_weight = args.saliency_weight
    levels = args.levels or model.levels

    images = table_images(args.data, args.table_crops)
    bit_counts = new_bit_counts(CHANNELS, levels, args.refinement_bits) if args.range_coded else None
    hist = latent_histograms(model, images, levels, args.refinement_bits, bit_counts)
    codec, summary = codec_tables(hist, levels, [0.0] * CHANNELS, model.latent_max, model.saliency_weight,
                                  args.refinement_bits, args.refinement_delay, bit_counts)
    with open(os.path.join(args.out, "codec.json"), "w") as f:
        json.dump(codec, f, indent=1)
    print(f"exported to {args.out}; tables from {len(images)} training crops; {summary}")


if __name__ == "__main__":
    main()
