#!/usr/bin/env bash
# The main command: sets everything up, builds the plugin, then runs the paper's video
# experiment: the clip (default vtest.avi) through limitnetenc ! limitnetdec, tiled as the
# original, 5/10/20/50/100 % and the received saliency map (out/pipelines/comparison.mp4 and
# .png), then the same clip over a 40 kbit/s link (out/pipelines/*.mp4), printing bytes per frame
# and bit rates; and a photo at several percentages and byte budgets with PSNR (out/demo/).
#   scripts/demo.sh [CLIP] [FRAMES]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --lib --examples
clip=(); [ $# -ge 1 ] && clip=("$1")
frames="${2:-50}"
pipelines/comparison.sh "${clip[@]}" --frames "$frames"
pipelines/video-experiment.sh "${clip[@]}" --size 224x224 --bitrate 40000 --frames "$frames"
# A single photo through the library API, with the numbers.
./target/release/examples/roundtrip tests/data/coffee-224.png out/demo
