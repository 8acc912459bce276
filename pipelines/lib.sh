# Shared by the pipeline scripts (sourced, not run): where things are, the plugin, the default clip.
#
#   LIMITNET_OUT         output folder (default out/pipelines)
#   LIMITNET_PLUGIN_DIR  folder with libgstlimitnet.so (default target/release, built if missing)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${LIMITNET_OUT:-$root/out/pipelines}"
mkdir -p "$out"

plugin_dir="${LIMITNET_PLUGIN_DIR:-$root/target/release}"
if [ ! -e "$plugin_dir/libgstlimitnet.so" ]; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  (cd "$root" && cargo build --release)
fi
export GST_PLUGIN_PATH="$plugin_dir${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

# The paper-style test clip: vtest.avi from OpenCV's samples (768x576, 10 fps, 795 frames), in the
# Debian package opencv-doc. Installed with apt if missing; images that drop /usr/share/doc
# (Docker's path-exclude) get the package unpacked under data/.pkgs instead.
default_clip() {
  local rel=usr/share/doc/opencv-doc/examples/data/vtest.avi
  local unpacked="$root/data/.pkgs/x/opencv-doc"
  if [ ! -e "/$rel" ] && [ ! -e "$unpacked/$rel" ]; then
    if [ "$(dpkg-query -W -f='${Status}' opencv-doc 2>/dev/null)" != "install ok installed" ]; then
      local sudo=""
      [ "$(id -u)" = 0 ] || sudo="sudo"
      echo "pipelines: installing opencv-doc (for vtest.avi)" >&2
      $sudo apt-get update -q >&2
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q opencv-doc >&2
    fi
    if [ ! -e "/$rel" ]; then
      echo "pipelines: /$rel was not installed (path-exclude?): unpacking opencv-doc into $unpacked" >&2
      mkdir -p "$root/data/.pkgs"
      (cd "$root/data/.pkgs" && apt-get download opencv-doc >&2)
      dpkg-deb -x "$(ls -t "$root"/data/.pkgs/opencv-doc_*.deb | head -1)" "$unpacked"
    fi
  fi
  if [ -e "/$rel" ]; then echo "/$rel"; else echo "$unpacked/$rel"; fi
}

# Frame sizes of the files in a folder: "count mean min max" (mean with one decimal).
frame_stats() {
  find "$1" -type f -printf '%s\n' | awk '
    { n++; s += $1; if (n == 1 || $1 < min) min = $1; if ($1 > max) max = $1 }
    END { if (n == 0) { print "0 0 0 0" } else { printf "%d %.1f %d %d\n", n, s / n, min, max } }'
}

# The frame rate of a stream from gst-launch-1.0 -v output: "N/D" (0/1 if none).
framerate_of() {
  local fps
  fps="$(grep -m1 -o 'image/x-limitnet, .*framerate=(fraction)[0-9]*/[0-9]*' "$1" | sed 's|.*=(fraction)||' || true)"
  echo "${fps:-0/1}"
}

# Bits per second of frames of MEAN bytes at frame rate N/D (0 without a frame rate).
bitrate_of() {
  awk -v mean="$1" -v fps="$2" 'BEGIN { split(fps, f, "/"); printf "%.0f\n", (f[1] > 0 && f[2] > 0) ? mean * 8 * f[1] / f[2] : 0 }'
}

# The source of a pipeline, as gst-launch-1.0 arguments in the array `source`: the clip, or
# with N > 0 exactly its first N frames. "identity eos-after" alone is not exact on GStreamer
# 1.22 (one frame fewer, or the decoder in decodebin ignores the early end and the clip runs
# on), so the first N+1 frames are unpacked to PNG files in DIR and read back with
# multifilesrc stop-index, which is exact. Sets `clip_fps` (N/D, or 0/1 when unknown).
clip_source() { # CLIP N DIR
  local clip="$1" n="$2" dir="$3"
  if [ "$n" -le 0 ]; then
    source=(filesrc location="$clip" ! decodebin)
    clip_fps=""
    return
  fi
  rm -rf "$dir" && mkdir -p "$dir"
  gst-launch-1.0 -v filesrc location="$clip" ! decodebin ! queue ! identity eos-after=$((n + 1)) ! \
    videoconvert ! video/x-raw,format=RGB ! pngenc compression-level=1 ! \
    multifilesink location="$dir/%05d.png" >"$dir/unpack.log"
  clip_fps="$(grep -m1 -o 'video/x-raw, .*framerate=(fraction)[0-9]*/[0-9]*' "$dir/unpack.log" | sed 's|.*=(fraction)||' || true)"
  clip_fps="${clip_fps:-0/1}"
  local have
  have=$(find "$dir" -name '*.png' | wc -l)
  [ "$have" -ge "$n" ] || echo "pipelines: the clip has only $have frames" >&2
  source=(multifilesrc location="$dir/%05d.png" stop-index=$((n - 1))
    caps="image/png,framerate=$clip_fps" ! pngdec)
}
