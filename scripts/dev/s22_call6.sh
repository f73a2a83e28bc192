#!/usr/bin/env bash
# Session 22, call 6 (one GPU): the quantized GEMV with two half-size batches a lane (kPipe,
# EFFITUNE_GEMV_PIPE=1). Call 5 said the batch-1 GEMVs are latency-bound in rounds: a warp's whole
# batch is in flight, then nothing while it is multiplied (all warps of the down projection in step:
# HBM busy, then idle). Prediction: with the next half-batch in flight during the multiply, the down
# and gate|up GEMVs keep HBM busy between rounds: 8B q4_0 batch 1 +3-5%, q8_0 +2-3%; QKV may lose a
# little (half the bytes go out before the PDL wait). Backend tests first with it on (same bits).
source scripts/device_env.sh >/dev/null
nvidia-smi --query-gpu=name --format=csv,noheader
EFFITUNE_GEMV_PIPE=1 timeout 200 $C/effitune_cuda_tests --gtest_filter='CudaBackend*' 2>&1 |
  grep -E "^\[  (PASSED|FAILED)|FAILED" | head
RUNS=3 GEN=32 bash scripts/dev/ab_bench.sh EFFITUNE_GEMV_PIPE "0 1" llama-8b:q4_0:1:128 llama-8b:q8_0:1:128 \
  llama-1b:q4_0:1:128 llama-1b:q8_0:1:128 llama-8b:q4_0:2:128 2>&1 | tail -12
