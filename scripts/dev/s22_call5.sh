#!/usr/bin/env bash
# Session 22, call 5 (one GPU): the GEMV's L2 hint for the next projection (MatArgs::l2_next).
# Session 20's trace had the 8B q4_0 QKV GEMV at 10.2 us of exclusive time a layer for 4.7 us of bytes,
# its CTAs starting only as the down projection's exit, while that down projection streams at ~2.0 TB/s
# (latency-bound: one 7 KB row a warp in four rounds) and leaves HBM bandwidth unused. Prediction: with
# the next QKV's 15.8 MB asked of L2 during the down projection (EFFITUNE_L2_NEXT=1), QKV ~10 -> ~5.5 us,
# 8B q4_0 batch 1 +5-7%; bf16 little (its QKV is 50 MB, its GEMVs near bandwidth). First the backend and
# task-model tests with every hand-over on (results must not change), then the A/B, two runs alternating.
source scripts/device_env.sh >/dev/null
nvidia-smi --query-gpu=name --format=csv,noheader
EFFITUNE_L2_NEXT=15 EFFITUNE_L2_NEXT_LAST=1 timeout 200 $C/effitune_cuda_tests \
  --gtest_filter='CudaBackend*:CudaOps.Matmul*' 2>&1 | grep -E "^\[  (PASSED|FAILED)|tests ran|FAILED" | head
export RUNS=2 GEN=32
S="llama-8b:q4_0:1:128 llama-8b:q8_0:1:128 llama-8b:bf16:1:128 llama-1b:bf16:1:128 llama-1b:q4_0:1:128"
bash scripts/dev/ab_bench.sh EFFITUNE_L2_NEXT "0 1 6 8 15" $S 2>&1 | tail -26
EFFITUNE_L2_NEXT=15 bash scripts/dev/ab_bench.sh EFFITUNE_L2_NEXT_LAST "1" $S 2>&1 | tail -6
