#!/usr/bin/env bash
# Installs ONNX Runtime's shared library from the PyPI `onnxruntime` wheel (no CDN needed):
# as root into /usr/local/lib/gst-limitnet/, else into ~/.local/lib/gst-limitnet/, both places
# the plugin looks in (src/model/runtime.rs). Idempotent.
set -euo pipefail
ORT_VERSION="${ORT_VERSION:-1.32.0}"
if [ "$(id -u)" = 0 ]; then dest=/usr/local/lib/gst-limitnet; else dest="$HOME/.local/lib/gst-limitnet"; fi
lib="$dest/libonnxruntime.so.1"
if [ -f "$lib" ] && [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$ORT_VERSION" ]; then
  echo "ONNX Runtime $ORT_VERSION already at $lib"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --dest "$tmp" "onnxruntime==$ORT_VERSION"
whl=$(ls "$tmp"/onnxruntime-*.whl)
mkdir -p "$dest"
python3 - "$whl" "$lib" <<'PY'
import shutil, sys, zipfile
whl, dest = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if "/capi/libonnxruntime.so.1" in n)
    with z.open(name) as src, open(dest + ".tmp", "wb") as out:
        shutil.copyfileobj(src, out)
import os; os.replace(dest + ".tmp", dest)
PY
echo "$ORT_VERSION" > "$dest/VERSION"
echo "ONNX Runtime $ORT_VERSION installed at $lib"
