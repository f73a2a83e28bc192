#!/usr/bin/env bash
# One device call: the CUDA tests, compute-sanitizer memcheck over them, and the benchmark table.
# Runs on the device machine from the repo root with the prebuilt .carry/cuda (scripts/build_cuda.sh).
# Writes bench_cuda.jsonl, device.txt and gpu_check_logs.tgz (the logs) under $OUT; prints a short
# summary last.
#   scripts/gpu_check.sh [tests|tp-tests|bench|all]   (tp-tests: the tensor-parallel tests only, no
#   memcheck, for the multi-GPU kinds; BENCH_ARGS passes key=value options to bench_cuda, e.g.
#   BENCH_ARGS='models=llama-8b quants=bf16 batches=1,64 tp=1,2'; BENCH_RUNS=3 repeats the table)
set -uo pipefail
cd "$(dirname "$0")/.."
C=$PWD/.carry/cuda
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
MODE=${1:-all}
CUBLAS_DIR=$(dirname "$(find /usr/local/cuda* /usr/lib /opt -name 'libcublas.so.13' 2>/dev/null | head -1)" 2>/dev/null)
export LD_LIBRARY_PATH=$C/lib:/usr/local/cuda/lib64:${CUBLAS_DIR:-.}:${LD_LIBRARY_PATH:-}
export EFFITUNE_TASK_MODEL=$PWD/experiments/support-desk/model.gguf
export EFFITUNE_COMMIT=$(cat "$C/commit" 2>/dev/null || echo unknown)
# NCCL (tensor parallelism) is loaded at run time; the image has it under CUDA or in a Python wheel.
# NVLink multicast stays off in every process (the engine forces it too).
export NCCL_NVLS_ENABLE=0
export EFFITUNE_NCCL_LIBRARY=${EFFITUNE_NCCL_LIBRARY:-$(find /usr/local /usr/lib /opt -name 'libnccl.so.2' 2>/dev/null | head -1)}
echo "nccl: ${EFFITUNE_NCCL_LIBRARY:-not found}"
# The tests look for ../shared/data beside the checkout they were built from (/work/main).
mkdir -p /work/shared/data && cp -n "$C/stories260K.bin" /work/shared/data/ 2>/dev/null
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/device.txt"

tests_rc=-1 mc_rc=-1 bench_rc=-1
if [[ $MODE == tests || $MODE == all ]]; then
  timeout 240 "$C/effitune_cuda_tests" 2>&1 | tee "$OUT/cuda_tests.log" | grep -E "^\[  (FAILED|PASSED|  OK)|stories|task model|Failure|Expected|Which|actual|NMSE|error" | head -60
  tests_rc=${PIPESTATUS[0]}
  timeout 240 compute-sanitizer --tool memcheck --error-exitcode 7 "$C/effitune_cuda_tests" \
    --gtest_filter='-*Bf16AgreesWithF32*:*Stories260kGreedy*:*TaskModel*:*TensorParallel*' >"$OUT/memcheck.log" 2>&1
  mc_rc=$?
  grep -E "ERROR SUMMARY|PASSED|FAILED" "$OUT/memcheck.log" | tail -4
fi
if [[ $MODE == tp-tests ]]; then
  timeout 300 "$C/effitune_cuda_tests" --gtest_filter='*TensorParallel*' 2>&1 | tee "$OUT/cuda_tp_tests.log" |
    grep -E "^\[  (FAILED|PASSED|  OK)|TP=|Failure|Expected|Which|actual" | head -60
  tests_rc=${PIPESTATUS[0]}
fi
if [[ $MODE == bench || $MODE == all ]]; then
  # BENCH_RUNS repeats the whole table (medians and spreads come from the repeats).
  for run in $(seq 1 "${BENCH_RUNS:-1}"); do
    timeout 300 "$C/bench_cuda" out="$OUT/bench_cuda_run$run.jsonl" ${BENCH_ARGS:-} 2>&1 | tee -a "$OUT/bench.log" | tail -30
    bench_rc=${PIPESTATUS[0]}
  done
  cat "$OUT"/bench_cuda_run*.jsonl > "$OUT/bench_cuda.jsonl"
  rm -f "$OUT"/bench_cuda_run*.jsonl
fi
# The device tool returns only a few files per call: keep the table and the device line as files and
# pack the logs into one archive.
logs=$(cd "$OUT" && ls -- *.log 2>/dev/null)
if [[ -n $logs ]]; then
  (cd "$OUT" && tar czf gpu_check_logs.tgz $logs && rm -f $logs)
fi
echo "summary: tests rc=$tests_rc memcheck rc=$mc_rc bench rc=$bench_rc commit=$EFFITUNE_COMMIT (logs in gpu_check_logs.tgz)"
