#!/usr/bin/env bash
# Session 22, call 8 (one GPU): the last engine (501e8ec: kPipe on at 2 rows): every CUDA test and
# memcheck, then the binary before (e078aac, kPipe off by default) against it, two runs alternating:
# batch 1 should not move, 8B batch 2 should gain ~3% (calls 6-7).
source scripts/device_env.sh >/dev/null
bash scripts/gpu_check.sh tests 2>&1 | tail -8
J=$OUT/pipe_default_ab.jsonl RUNS=2 GEN=32 BUDGET_S=200 bash scripts/dev/ab_binaries.sh "effitune_base effitune" \
  llama-8b:q4_0:1:128 llama-8b:q4_0:2:128 llama-8b:q8_0:2:128 2>&1 | tail -8
