#!/usr/bin/env bash
# The GPU figures in one run on a CUDA machine: encoder
# images/s (fp16/bf16, batch 32..512), predict over a 16-episode library with every core
# decoding in processes, training windows/s and MFU of the paper model at batch 8 and 256,
# and the tests marked gpu. Prepared here; not yet run on a device.
#
# On a machine that has python3 with torch, lightning, torchmetrics, timm and onnxruntime but
# no package index, the rest comes as wheels in .whl/ (git-ignored), made once elsewhere with:
#   pip download --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
#     --platform manylinux2014_x86_64 --no-deps av==18.1.0 open_clip_torch==3.3.0 \
#     hydra-core==1.3.8 omegaconf==2.3.1 ftfy wcwidth -d .whl
#   pip wheel --no-deps antlr4-python3-runtime==4.9.3 -w .whl
# then, from the checkout with .whl/ beside it: bash benchmarks/device.sh (under 10 minutes).
# Results land in $OUT (markdown tables and JSON).
set -uo pipefail
export HF_HUB_OFFLINE=1 WANDB_MODE=disabled PYTHONUNBUFFERED=1 PYTHONPATH="$PWD"
OUT=${OUT:-/tmp/introdet-device}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --find-links .whl \
    av open_clip_torch hydra-core omegaconf antlr4-python3-runtime ftfy wcwidth
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
step() {  # name, seconds, command...: one step's output to $OUT/name.md, never stopping the rest
    local name=$1 limit=$2
    shift 2
    echo "== $name"
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.md" | tail -40
}
step gpu_tests 90 python3 -m pytest -q -m gpu -p no:cacheprovider tests
step encoder 120 python3 benchmarks/bench.py 'run=[encoder]' 'batches=[32,64,128,256,512]' repeats=3 \
    out="$OUT/encoder.json"
step library 200 python3 benchmarks/bench.py 'run=[library]' episodes=16 seconds=20 \
    out="$OUT/library.json"
step train 120 python3 benchmarks/bench.py 'run=[train]' 'train_batches=[8,256]' out="$OUT/train.json"
