#!/usr/bin/env bash
# Installs everything gst-limitnet needs on Debian 12 (idempotent): GStreamer with its dev files
# and the plugin sets the pipelines use, pip (to fetch ONNX Runtime from PyPI), ONNX Runtime
# itself, and checks for a Rust toolchain. Run as root or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

packages=(pkg-config build-essential python3-pip
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav)
missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "setup: no Rust toolchain found: install Rust 1.85 or newer (https://rustup.rs) and rerun" >&2
  exit 1
fi

if [ "$(id -u)" = 0 ]; then ./scripts/install-runtime.sh; else ./scripts/install-runtime.sh || $SUDO ./scripts/install-runtime.sh; fi
echo "setup: done"
