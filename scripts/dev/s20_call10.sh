#!/usr/bin/env bash
# Session 20, call 10 (one GPU): the wide variant's rule at shapes calls 6-7 did not cover: the 1B shape
# (head_dim 64: three wide CTAs an SM, so one wave is 396 CTAs) at batch 4-8 and long prompts, and the 8B
# shape at batch 2-4, EFFITUNE_ATTN_WIDE 0 -> 1, two runs alternating, 32 generated.
set -uo pipefail
source scripts/device_env.sh >/dev/null
RUNS=2 GEN=32 bash scripts/dev/ab_bench.sh EFFITUNE_ATTN_WIDE "0 1" llama-1b:bf16:8:1024 llama-1b:bf16:4:2048 \
  llama-1b:q4_0:4:2048 llama-8b:bf16:2:1024 llama-8b:q4_0:4:512 llama-8b:bf16:8:512 2>&1 | tail -12
