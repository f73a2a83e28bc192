#!/usr/bin/env bash
# Session 22, call 9 (one GPU): kPipe at 4 and 8 rows (EFFITUNE_GEMV_PIPE_WIDE=1), where the multiply
# per half-batch is longer still than at 2 rows (+2.9-3.2% on the 8B shape, calls 6-8). Prediction:
# +2-4% on the 8B shape, 0 on the 1B one. Backend tests with it on first, then three runs alternating.
source scripts/device_env.sh >/dev/null
nvidia-smi --query-gpu=name --format=csv,noheader
EFFITUNE_GEMV_PIPE_WIDE=1 timeout 200 $C/effitune_cuda_tests --gtest_filter='CudaBackend*' 2>&1 |
  grep -E "^\[  (PASSED|FAILED)|FAILED" | head
RUNS=3 GEN=32 bash scripts/dev/ab_bench.sh EFFITUNE_GEMV_PIPE_WIDE "0 1" llama-8b:q4_0:4:128 llama-8b:q8_0:4:128 \
  llama-8b:q8_0:8:128 llama-1b:q8_0:4:128 2>&1 | tail -10
