#!/usr/bin/env bash
# Run THERE, on a lent GPU, after benchmarks/gpu_wheels.sh here. With the device tool:
#   run(command="bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=590)
# Everything it learns lands in $OUT: gpu.txt, cuda_tests.log, bench_full.json, bench_full.log.
# Record the card and the numbers in docs/PERFORMANCE.md.
set -uo pipefail
OUT=${OUT:-/tmp/mgie-gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "no wheels: run benchmarks/gpu_wheels.sh first and carry .whl"; exit 1; }
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, diffusers; print('torch', torch.__version__, 'transformers', \
transformers.__version__, 'diffusers', diffusers.__version__)" | tee -a "$OUT/gpu.txt"
# Fail in seconds, not minutes, when a carried wheel does not fit this image.
python3 -c "import transformers, diffusers, bitsandbytes, accelerate, psutil, platformdirs, sentencepiece" \
    2>&1 | tee -a "$OUT/gpu.txt" || { echo "imports failed"; exit 1; }
# CUDA paths first (memory modes, quantised LLM, compile last): each test at most 90 s.
timeout 180 python3 -m pytest -q -p no:cacheprovider --timeout=90 -m cuda tests/test_cuda.py 2>&1 \
    | tee "$OUT/cuda_tests.log"
# The side-by-side benchmark at the real geometry, with the 8 GB check (needs bitsandbytes).
timeout 300 python3 -m mgie_desktop bench --size full --json --history-edits 3 \
    >"$OUT/bench_full.json" 2>"$OUT/bench_full.log"
echo "bench exit status $?"
tail -n 20 "$OUT/bench_full.log"
cat "$OUT/bench_full.json"
