#!/usr/bin/env bash
# Training smoke test: a few steps of each phase on a few crops, export a bundle, and decode a
# frame through the Rust code with it. Needs the training venv (./training/setup.sh) and data
# (it prepares data/ if missing: Debian packages, ~1 minute plus downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
./training/setup.sh
py=training/.venv/bin/python
[ -f data/split.json ] || $py training/prepare_data.py --out data
[ -f data/saliency/METHOD ] || $py training/saliency_labels.py --data data --method finegrained
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd training
../$py -m limitnet_train.train --data ../data --out "$tmp/ckpt" --max-steps 3 --batch 4 --eval-every 1000
../$py -m limitnet_train.export --ckpt "$tmp/ckpt/final.pt" --data ../data --out "$tmp/bundle" --table-crops 32
# The GPU path's pieces on the CPU: the data pack, the batched crop sampler, the lite encoder.
../$py -m limitnet_train.pack --data ../data --out "$tmp/pack" --short 256
../$py -m limitnet_train.train --data "$tmp/pack" --teacher "$tmp/pack/teacher.pth" --device-sampler \
  --encoder lite --arch fast --out "$tmp/lite" --mirror "$tmp/lite-mirror" --max-steps 2 --batch 4 --eval-every 1000 \
  --hole-share 0.5
../$py -m limitnet_train.export --ckpt "$tmp/lite-mirror/model.pt" --data ../data --out "$tmp/lite-bundle" --table-crops 32
cd ..
mkdir -p "$tmp/in" && cp tests/data/coffee-224.png "$tmp/in/"
for bundle in bundle lite-bundle; do
  cargo run --quiet --release -p limitnet --example eval_frames -- "$tmp/in" "$tmp/out-$bundle" "$tmp/$bundle" 256,100000
  test -f "$tmp/out-$bundle/256/coffee-224.png" && test -f "$tmp/out-$bundle/100000/coffee-224.png"
done
# The training code's priority order and context rule against the codec's, on real latents.
(cd training && ../$py -m limitnet_train.rules_fixture --bundle ../models/limitnet-lite --out "$tmp/rules.json")
LIMITNET_RULES_FIXTURE="$tmp/rules.json" cargo test --quiet --release -p limitnet --test training_rules
# Phase 4 (the decoder on packet losses) for two steps, and its decoder-only export.
cp -r models/limitnet-lite "$tmp/lite-copy"
(cd training && ../$py -m limitnet_train.resilience --bundle "$tmp/lite-copy" --data ../data --out "$tmp/resilient" \
  --max-steps 2 --batch 4 --eval-every 1 --ema 0.99 \
  && ../$py -m limitnet_train.resilience --bundle "$tmp/lite-copy" --export "$tmp/resilient/final.pt")
cmp models/limitnet-lite/encoder.onnx "$tmp/lite-copy/encoder.onnx"
cargo run --quiet --release -p limitnet --example eval_frames -- "$tmp/in" "$tmp/out-resilient" "$tmp/lite-copy" 256
test -f "$tmp/out-resilient/256/coffee-224.png"
# The layered bundle (a second latent layer): two steps, export, decode through the Rust codec;
# then two rate-aware steps (Laplace prior, a level at 0) and a version 4 (range coded) export.
(cd training && ../$py -m limitnet_train.layered --bundle ../models/limitnet-lite --data ../data --out "$tmp/layered" \
  --max-steps 2 --batch 2 --eval-every 10 \
  && ../$py -m limitnet_train.layered --bundle ../models/limitnet-lite --data ../data --out "$tmp/layered" \
     --export "$tmp/layered-bundle" --table-crops 32 \
  && ../$py -m limitnet_train.layered --bundle ../models/limitnet-lite --data ../data --out "$tmp/layered-rd" \
     --init "$tmp/layered/ckpt.pt" --rate-model laplace --zero-level --max-steps 2 --batch 2 --eval-every 10 \
  && ../$py -m limitnet_train.layered --bundle ../models/limitnet-lite --data ../data --out "$tmp/layered-rd" \
     --export "$tmp/layered-rd-bundle" --range-coded --table-crops 32)
# A checkpoint recovered from the exported graphs exports the same bundle.
(cd training && ../$py -m limitnet_train.layered --recover "$tmp/layered-bundle" --out "$tmp/layered-recovered" \
  && ../$py -m limitnet_train.layered --bundle ../models/limitnet-lite --data ../data --out "$tmp/layered-recovered" \
     --export "$tmp/layered-recovered-bundle" --table-crops 32)
cmp "$tmp/layered-bundle/codec.json" "$tmp/layered-recovered-bundle/codec.json"
for bundle in layered-bundle layered-rd-bundle; do
  cargo run --quiet --release -p limitnet --example eval_frames -- "$tmp/in" "$tmp/out-$bundle" "$tmp/$bundle" 256
  test -f "$tmp/out-$bundle/256/coffee-224.png"
done
# Rate-aware fine-tuning of the base (encoder and decoder): two steps, a version 4 bundle.
(cd training && ../$py -m limitnet_train.ratefit --bundle ../models/limitnet-lite --data ../data --out "$tmp/ratefit" \
  --max-steps 2 --batch 2 --eval-every 10 \
  && ../$py -m limitnet_train.export --ckpt "$tmp/ratefit/model.pt" --refinement-bits 2 --refinement-delay 31 \
     --range-coded --data ../data --out "$tmp/ratefit-bundle" --table-crops 32)
cargo run --quiet --release -p limitnet --example eval_frames -- "$tmp/in" "$tmp/out-ratefit" "$tmp/ratefit-bundle" 256
test -f "$tmp/out-ratefit/256/coffee-224.png"
echo "training smoke test passed"
