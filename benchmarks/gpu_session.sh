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
# CUDA paths first (memory modes, quantised LLM, compile): quick, and they tell whether the bench can work.
timeout 200 python3 -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py 2>&1 | tee "$OUT/cuda_tests.log"
# The side-by-side benchmark at the real geometry, with the 8 GB check (needs bitsandbytes).
timeout 340 python3 -m mgie_desktop bench --size full --json --history-edits 5 \
    >"$OUT/bench_full.json" 2>"$OUT/bench_full.log"
echo "bench exit status $?"
tail -n 20 "$OUT/bench_full.log"
cat "$OUT/bench_full.json"
