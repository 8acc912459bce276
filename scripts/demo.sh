#!/usr/bin/env bash
# The main command: sets everything up, builds the plugin and runs a photo through
# limitnetenc ! limitnetdec at several percentages and byte budgets with gst-launch-1.0,
# writing the decoded images to out/demo/ and printing bytes per frame and PSNR.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --examples
export GST_PLUGIN_PATH="$PWD/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
photo="${1:-tests/data/coffee-224.png}"
out=out/demo
mkdir -p "$out"
for p in 5 10 20 50 100; do
  gst-launch-1.0 -q filesrc location="$photo" ! decodebin ! videoconvert ! videoscale ! \
    video/x-raw,width=224,height=224 ! limitnetenc ! limitnetdec percentage=$p ! \
    videoconvert ! pngenc ! filesink location="$out/percentage-$p.png"
done
for b in 256 512 1024; do
  gst-launch-1.0 -q filesrc location="$photo" ! decodebin ! videoconvert ! videoscale ! \
    video/x-raw,width=224,height=224 ! limitnetenc max-bytes=$b ! limitnetdec ! \
    videoconvert ! pngenc ! filesink location="$out/max-bytes-$b.png"
done
echo "decoded images in $out/"
# The same through the library API, with the numbers.
gst-launch-1.0 -q filesrc location="$photo" ! decodebin ! videoconvert ! videoscale ! \
  video/x-raw,width=224,height=224,format=RGB ! pngenc ! filesink location="$out/original-224.png"
./target/release/examples/roundtrip "$out/original-224.png"
