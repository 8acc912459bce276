#!/usr/bin/env bash
# The speed benchmark: limitnetenc/limitnetdec beside jpegenc/jpegdec, webpenc/webpdec and
# openjpegenc/openjpegdec in the same pipeline shape, at 224x224 and 640x480, on frames of
# vtest.avi (opencv-doc). Prints a markdown table and writes it to docs/bench-results.md.
# Takes ~3 minutes on 2 cores. Arguments go to examples/bench_pipelines.rs, e.g.
#   scripts/bench.sh --bundle models/limitnet-fast --bundle limitnet-paper --threads 1,2 --runs 5
#   scripts/bench.sh --sizes 224x224 --note "another job was running"
# LimitNet is timed for every bundle directory under models/ unless --bundle says otherwise;
# LIMITNET_BENCH_PLUGIN=/path/libgstlimitnet.so times that plugin file instead of this build.
# The codec core's stages alone: cargo bench -p limitnet --bench codec
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >&2
export PATH="$HOME/.cargo/bin:$PATH"
# shellcheck source=pipelines/lib.sh
source pipelines/lib.sh
video="${LIMITNET_BENCH_VIDEO:-$(default_clip)}"
cargo build --release --example bench_pipelines >&2
exec ./target/release/examples/bench_pipelines --video "$video" --work out/bench \
  --out docs/bench-results.md --readme README.md "$@"
