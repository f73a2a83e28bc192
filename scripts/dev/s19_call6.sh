#!/usr/bin/env bash
# Session 19, call 6 (one GPU): 13f82d4 (one split of 256 up to 256 positions once the pairs give half
# the SMs a CTA): every CUDA test, then the table's batch 1 and 16 rows (8B and 1B, bf16 and q4_0) twice.
source scripts/device_env.sh >/dev/null
timeout 200 $C/effitune_cuda_tests > $OUT/cuda_tests_13f82d4.log 2>&1; echo "tests rc=$?"
grep -E "^\[  (FAILED|PASSED)" $OUT/cuda_tests_13f82d4.log
BENCH_RUNS=2 BENCH_ARGS='models=llama-8b,llama-1b quants=bf16,q4_0 batches=1,16' bash scripts/gpu_check.sh bench 2>&1 |
  grep -vE "^\{" | tail -12
