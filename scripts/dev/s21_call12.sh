#!/usr/bin/env bash
# Session 21, call 12 (one GPU): the tensor-core prefill attention with cp.async stages and V through
# ldmatrix .trans: every CUDA test and memcheck, then prefill alone (no generated tokens) of the binary
# before (78a29ca, carried as effitune_base) against after, three runs alternating, at 512-16,000-token
# prompts on the 8B and 1B shapes and a TP=4 rank.
set -uo pipefail
source scripts/device_env.sh >/dev/null
bash scripts/gpu_check.sh tests 2>&1 | tail -3
J=$OUT/prefill_ab.jsonl RUNS=3 GEN=0 BUDGET_S=330 bash scripts/dev/ab_binaries.sh "effitune_base effitune" \
  llama-8b:bf16:1:512 llama-8b:bf16:4:512 llama-8b:bf16:1:4150 llama-8b:bf16:1:16000 llama-8b:q4_0:1:16000 \
  llama-8b-tp4-rank:bf16:1:16000 llama-1b:bf16:1:512 llama-1b:bf16:1:8000
