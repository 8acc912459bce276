#!/usr/bin/env bash
# Trains LimitNet variants concurrently on one GPU, each through all three phases from scratch,
# for the device machine (see training/README.md "Training on a GPU"). Needs gpu_pack/ (made by
# `python -m limitnet_train.pack --data ../data --out ../gpu_pack` in training/) and a Python with
# torch + torchvision. Writes each run's model and log to $OUT/<run>/ every 45 s, so a run cut
# short still leaves its last checkpoint. Budgets per phase in minutes: MINUTES="1.5 1.8 3.7".
#   RUNS="lite fast paper" MINUTES="1.5 1.8 3.7" OUT=/tmp/out scripts/train_gpu.sh
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
for run in $runs; do
  # shellcheck disable=SC2086
  python3 -m limitnet_train.train --data ../gpu_pack --teacher ../gpu_pack/teacher.pth --device cuda \
    --batch 128 --threads 4 --ckpt-every 45 --log-every 100 --eval-every 500 --minutes $minutes \
    ${flags[$run]} --out "/tmp/limitnet-gpu/$run" --mirror "$OUT/$run" >"/tmp/limitnet-gpu-$run.out" 2>&1 &
done
wait
for run in $runs; do
  echo "== $run"
  grep -E "val PSNR|phase|done|Error|error" "/tmp/limitnet-gpu-$run.out" | tail -n 12
done
