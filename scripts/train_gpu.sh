#!/usr/bin/env bash
# Trains LimitNet variants concurrently on one GPU, each through all three phases from scratch,
# for the device machine (see training/README.md "Training on a GPU"). Needs gpu_pack/ (made by
# `python -m limitnet_train.pack --data ../data --out ../gpu_pack` in training/) and a Python with
# torch + torchvision. Writes each run's model and log to $OUT/<run>/ every 45 s, so a run cut
# short still leaves its last checkpoint. Budgets per phase in minutes: MINUTES="1.5 1.8 3.7".
#   RUNS="lite fast paper" MINUTES="1.5 1.8 3.7" OUT=/tmp/out scripts/train_gpu.sh
# To go on from models an earlier call brought back (RESUME/<run>/model.pt, carried along), with
# a larger budget for phase 3 (fresh optimizer state):
#   RESUME=gpu_pack/resume REOPEN=3 MINUTES="1.5 1.8 6.2" ... scripts/train_gpu.sh
# TRAIN_ARGS go to every run's train.py, e.g. TRAIN_ARGS="--hole-share 0.3" (packet-loss holes
# in phases 2-3, issue 13).
set -uo pipefail
cd "$(dirname "$0")/../training"
export PYTHONUNBUFFERED=1
: "${OUT:?set OUT to the folder for the models and logs}"
minutes="${MINUTES:-1.5 1.8 3.7}"
runs="${RUNS:-lite fast paper}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, torchvision; print('torch', torch.__version__, torchvision.__version__, torch.cuda.get_device_name())"
declare -A flags=(
  [lite]="--encoder lite --arch fast"
  [fast]="--encoder paper --arch fast"
  [paper]="--encoder paper --arch paper"
)
reopen=()
[ -n "${REOPEN:-}" ] && reopen=(--reopen-phase "$REOPEN")
for run in $runs; do
  if [ -n "${RESUME:-}" ]; then
    mkdir -p "/tmp/limitnet-gpu/$run"
    cp "../$RESUME/$run/model.pt" "/tmp/limitnet-gpu/$run/ckpt.pt"
  fi
  # shellcheck disable=SC2086
  python3 -m limitnet_train.train --data ../gpu_pack --teacher ../gpu_pack/teacher.pth --device cuda \
    --batch 128 --threads 4 --ckpt-every 45 --log-every 100 --eval-every 500 --minutes $minutes \
    ${flags[$run]} ${TRAIN_ARGS:-} "${reopen[@]}" --out "/tmp/limitnet-gpu/$run" --mirror "$OUT/$run" >"/tmp/limitnet-gpu-$run.out" 2>&1 &
done
wait
for run in $runs; do
  echo "== $run"
  grep -E "val PSNR|phase|done|Error|error" "/tmp/limitnet-gpu-$run.out" | tail -n 12
done
