#!/usr/bin/env bash
# The paper's video experiment: every frame of a clip through limitnetenc (cut by percentage,
# max-bytes or bitrate), then limitnetdec, muxed to mp4 under out/pipelines/. Prints bytes per
# frame (mean, min, max), the bit rate at the clip's frame rate and the wall time per frame.
#
#   pipelines/video-experiment.sh [CLIP] [--size WxH|native] [--percentage P | --max-bytes N | --bitrate BPS] [--frames N]
#
# CLIP defaults to OpenCV's vtest.avi (768x576, 10 fps; installed with opencv-doc if missing).
# --size defaults to 224x224 (the model's training size; x264 needs even sizes); --frames to
# the whole clip (with N, the first N frames are unpacked to OUT/NAME.source/ first, see lib.sh).
# The encoded frames are kept as OUT/NAME.frames/NNNNN.lnet, one file a frame.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

clip="" size=224x224 cut="" frames=0
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size="$2"; shift 2 ;;
    --percentage) cut="percentage=$2"; shift 2 ;;
    --max-bytes) cut="max-bytes=$2"; shift 2 ;;
    --bitrate) cut="bitrate=$2"; shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "video-experiment: unknown option $1" >&2; exit 2 ;;
    *) clip="$1"; shift ;;
  esac
done
[ -n "$clip" ] || clip="$(default_clip)"
[ -e "$clip" ] || { echo "video-experiment: no such clip: $clip" >&2; exit 2; }

scale="videoscale ! video/x-raw,width=${size%x*},height=${size#*x}"
[ "$size" = native ] && scale="identity"
name="$(basename "${clip%.*}")-$size-${cut:-full}"
name="${name//=/}"
frames_dir="$out/$name.frames"
rm -rf "$frames_dir" && mkdir -p "$frames_dir"
clip_source "$clip" "$frames" "$out/$name.source"

# Encode, keep each encoded frame as a file (to count its bytes), decode, mux. The file branch's
# queue has no limits: x264enc holds ~40 frames before its first output, and the pipeline only
# starts once every sink has a frame, so a bounded queue beside it would wait forever.
start=$(date +%s.%N)
gst-launch-1.0 -v "${source[@]}" ! videoconvert ! $scale ! limitnetenc $cut ! tee name=sent \
  sent. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! multifilesink location="$frames_dir/%05d.lnet" \
  sent. ! queue ! limitnetdec ! videoconvert ! video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location="$out/$name.mp4" \
  >"$out/$name.log"
end=$(date +%s.%N)

read -r count mean min max <<<"$(frame_stats "$frames_dir")"
fps="$(framerate_of "$out/$name.log")"
echo "clip: $clip (${fps%/1} fps), size $size, ${cut:-no cut}, $count frames"
echo "bytes per frame: mean $mean, min $min, max $max"
if [ "$fps" = 0/1 ]; then
  echo "bitrate: unknown (the clip has no frame rate)"
else
  echo "bitrate: $(bitrate_of "$mean" "$fps") bit/s at ${fps%/1} fps"
fi
awk -v s="$start" -v e="$end" -v n="$count" \
  'BEGIN { printf "wall time: %.1f s, %.0f ms per frame (whole pipeline: demux, encode, decode, x264, mux)\n", e - s, n ? 1000 * (e - s) / n : 0 }'
echo "wrote $out/$name.mp4"
