#!/usr/bin/env bash
# The test command: sets everything up, then runs every test (unit, property, element and
# pipeline tests on real photos with the embedded model). No torch needed; see
# training/README.md for the training smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release
cargo test --workspace --all-targets
cargo test --workspace --doc
# The codec core without the standard library, GStreamer or ONNX Runtime (what a microcontroller
# sender builds on); no Cortex-M target is installed here, so a host no_std build.
cargo build -p limitnet --no-default-features
deps="$(cargo tree -p limitnet --no-default-features -e normal --prefix none)"
if grep -E "^(gstreamer|glib|ort) " <<<"$deps"; then
  echo "test.sh: limitnet without default features depends on the above" >&2
  exit 1
fi
# A short coverage-guided fuzzing run of every byte parser from its seeds (README "Fuzzing").
./scripts/fuzz.sh 10
# The plugin as gst-inspect sees it, from the built library.
GST_PLUGIN_PATH="$PWD/target/release" gst-inspect-1.0 limitnet >/dev/null
# Capture first: `cmd | grep -q` under pipefail fails with SIGPIPE (exit 141) when grep exits early.
dec_doc="$(GST_PLUGIN_PATH="$PWD/target/release" gst-inspect-1.0 limitnetdec)"
grep -q "percentage" <<<"$dec_doc"
echo "test.sh: all tests passed"
