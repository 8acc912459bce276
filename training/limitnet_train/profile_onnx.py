"""Where an ONNX graph's time goes: per-node median kernel time in ONNX Runtime (CPU).

  python -m limitnet_train.profile_onnx ../models/limitnet-fast/encoder.onnx [--threads 1] [--size 224]

Times `--runs` calls on one random `[1,3,size,size]` image (or `[1,12,size/8,size/8]` latent for
a decoder graph) with ONNX Runtime's profiler and prints each node's median time and share, so a
speed change can be aimed at the node that costs. Same session options as the elements (all
graph optimizations, no spinning).
"""

import argparse
import collections
import json
import os
import tempfile

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graph")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "profile")
    session = ort.InferenceSession(args.graph, so, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    channels = inp.shape[1] if isinstance(inp.shape[1], int) else 3
    side = args.size if channels == 3 else args.size // 8
    x = np.random.default_rng(0).random((1, channels, side, side), dtype=np.float32)
    for _ in range(args.runs):
        session.run(None, {inp.name: x})
    with open(session.end_profiling()) as f:
        events = json.load(f)

    per_node = collections.defaultdict(list)
    runs = []
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_node[(e["name"][: -len("_kernel_time")], e["args"].get("op_name", "?"))].append(e["dur"])
        elif e.get("cat") == "Session" and e["name"] == "model_run":
            runs.append(e["dur"])
    medians = {k: float(np.median(v)) for k, v in per_node.items()}
    total = sum(medians.values())
    print(f"{args.graph}: {args.threads} thread(s), input {list(x.shape)}, "
          f"median run {np.median(runs[10:]) / 1000:.3f} ms, node sum {total / 1000:.3f} ms")
    for (name, op), us in sorted(medians.items(), key=lambda kv: -kv[1]):
        print(f"  {name:36s} {op:16s} {us:8.1f} us  {100 * us / total:5.1f} %")


if __name__ == "__main__":
    main()
