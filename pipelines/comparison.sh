#!/usr/bin/env bash
# The paper-style demo video: 224x224 tiles of the original clip, the LimitNet stream decoded
# from the first 5, 10, 20, 50 and 100 % of its latent values, and the saliency map the receiver
# got, each labelled with its mean bytes per frame. Writes out/pipelines/comparison.mp4 and a
# still of the middle frame, out/pipelines/comparison.png.
#
#   pipelines/comparison.sh [CLIP] [--frames N]      (default: vtest.avi, 50 frames)
#
# The clip is cropped to a centred square, then scaled to 224x224.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

clip="" frames=50
while [ $# -gt 0 ]; do
  case "$1" in
    --frames) frames="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "comparison: unknown option $1" >&2; exit 2 ;;
    *) clip="$1"; shift ;;
  esac
done
[ -n "$clip" ] || clip="$(default_clip)"
[ -e "$clip" ] || { echo "comparison: no such clip: $clip" >&2; exit 2; }
percentages="5 10 20 50 100"
work="$out/comparison.work"
rm -rf "$work" && mkdir -p "$work/shown"
# gst-launch-1.0 takes one pipeline element or property per argument: arrays keep spaces.
start=$(date +%s.%N)
clip_source "$clip" "$frames" "$work/source"
source+=(! videoconvert ! aspectratiocrop aspect-ratio=1/1 ! videoscale !
  video/x-raw,width=224,height=224,pixel-aspect-ratio=1/1)
# Beside x264enc (which holds ~40 frames before its first output, and the pipeline only starts
# once every sink has one), a tee branch needs a queue without limits, or both wait forever.
unbounded=(queue max-size-buffers=0 max-size-bytes=0 max-size-time=0)
label=(textoverlay valignment=top halignment=left xpad=6 ypad=4 wrap-mode=none auto-resize=false
  "font-desc=Sans Bold 9")

# Pass 1: what the sender sends at each percentage, one file a frame.
pass1=("${source[@]}" ! tee name=raw)
for p in $percentages; do
  mkdir -p "$work/$p"
  pass1+=(raw. ! queue ! limitnetenc percentage="$p" ! multifilesink location="$work/$p/%05d.lnet")
done
gst-launch-1.0 -v "${pass1[@]}" >"$work/pass1.log"
fps="$(framerate_of "$work/pass1.log")"
declare -A text
for p in $percentages; do
  read -r count mean min max <<<"$(frame_stats "$work/$p")"
  text[$p]="$p %: $(printf %.0f "$mean") B"
  [ "$fps" = 0/1 ] || text[$p]+=" = $(($(bitrate_of "$mean" "$fps") / 1000)) kbit/s"
  echo "$p %: bytes per frame mean $mean, min $min, max $max; $(bitrate_of "$mean" "$fps") bit/s at ${fps%/1} fps"
done

# Pass 2: one stream at 100 %, decoded from its first P % by limitnetdec percentage=P (exactly
# the values the sender sends at P %), and its saliency map; tiled 4x2 by the compositor:
#   original | 5 %  | 10 %  | 20 %
#   saliency | 50 % | 100 % | legend
mix=(compositor name=mix background=black)
for i in 0 1 2 3 4 5 6; do mix+=("sink_$i::xpos=$((224 * (i % 4)))" "sink_$i::ypos=$((224 * (i / 4)))"); done
legend=("LimitNet (MobiSys 2024)" "$(basename "$clip"), $count frames, ${fps%/1} fps"
  "B: mean bytes per frame, incl." "44 B of header and saliency map")
pass2=("${source[@]}" ! tee name=raw
  raw. ! queue ! "${label[@]}" text=original ! mix.sink_0
  raw. ! queue ! limitnetenc ! tee name=sent
  sent. ! queue ! limitnetdec output=saliency ! "${label[@]}" "text=received saliency map" ! mix.sink_4)
slot=1
for p in $percentages; do
  [ $slot = 4 ] && slot=5
  pass2+=(sent. ! queue ! limitnetdec percentage="$p" threads=1 ! "${label[@]}" "text=${text[$p]}" ! mix.sink_$slot)
  slot=$((slot + 1))
done
pass2+=("${mix[@]}")
for i in 0 1 2 3; do # one line each: gst-launch-1.0 cannot pass a newline in a property
  pass2+=(! textoverlay valignment=top halignment=left xpad=0 ypad=0 deltax=680 deltay=$((300 + 22 * i))
    wrap-mode=none auto-resize=false "font-desc=Sans 9" "text=${legend[$i]}")
done
pass2+=(! tee name=shown
  shown. ! queue ! videoconvert ! video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location="$out/comparison.mp4"
  shown. ! "${unbounded[@]}" ! videoconvert ! pngenc ! multifilesink location="$work/shown/%05d.png")
gst-launch-1.0 -q "${pass2[@]}"
end=$(date +%s.%N)

shown=$(find "$work/shown" -name '*.png' | wc -l)
cp "$(printf '%s/shown/%05d.png' "$work" $((shown / 2)))" "$out/comparison.png"
rm -rf "$work/shown" "$work/source"
awk -v s="$start" -v e="$end" -v n="$shown" \
  'BEGIN { printf "wall time: %.1f s, %.0f ms per frame (both passes: 6 encodes and 5 decodes a frame)\n", e - s, n ? 1000 * (e - s) / n : 0 }'
echo "wrote $out/comparison.mp4 ($shown frames) and $out/comparison.png (frame $((shown / 2)))"
