#!/usr/bin/env bash
# Session 20, call 7 (one GPU): the wide decode-attention variant past one split (splits of 256 while
# pairs x splits fit one wave: small batches at long contexts), end to end, EFFITUNE_ATTN_WIDE 0 -> 1
# (past 256 positions 0 is the rules before it), two runs alternating, 32 generated; the attention
# tests first.
set -uo pipefail
source scripts/device_env.sh >/dev/null
"$C/effitune_cuda_tests" --gtest_filter='CudaOps.*Attention*:CudaOps.Decode*' 2>&1 | tail -3
RUNS=2 GEN=32 bash scripts/dev/ab_bench.sh EFFITUNE_ATTN_WIDE "0 1" llama-8b:q4_0:1:1024 llama-8b:bf16:1:1024 \
  llama-1b:bf16:1:1024 llama-1b:q4_0:1:2048 llama-8b:q4_0:2:2048 llama-8b:q4_0:1:4000 \
  llama-8b-tp4-rank:bf16:1:4000 llama-8b-tp4-rank:bf16:4:1024 2>&1 | tail -18
