#!/usr/bin/env bash
# The soak command: N frames (default 10000) through limitnetenc ! limitnetdec in one process
# with resident memory sampled, then many encoder/decoder instances (one after another and side
# by side) sharing the process's ONNX Runtime. Prints RSS tables; exits 1 if memory grows or an
# element is not freed. Arguments after the frame count go to examples/soak.rs, e.g.
#   scripts/soak.sh 10000 --size 112x112
#   scripts/soak.sh 2000 --size 224x224 --instances 32 --concurrent 8 --rounds 8
# (Needs the setup of scripts/setup.sh: GStreamer and ONNX Runtime.)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
frames=10000
if [[ $# -gt 0 && $1 != -* ]]; then
    frames=$1
    shift
fi
cargo build --release --example soak
exec target/release/examples/soak --frames "$frames" "$@"
