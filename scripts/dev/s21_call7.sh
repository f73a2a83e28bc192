#!/usr/bin/env bash
# Session 21, call 7 (one GPU): the session's attention changes together (the merge with the splits side
# by side, the wide variant's ring lengths at long contexts): every CUDA test and memcheck, then end to
# end the session's first binary (bef5591, carried as effitune_base) against the last, two runs
# alternating, 32 generated, at long contexts where the rules changed and a 128-token control.
# (Rewritten after the call onto scripts/dev/ab_binaries.sh / attn_sweep_table.py: the same runs, order and labels.)
set -uo pipefail
source scripts/device_env.sh >/dev/null
bash scripts/gpu_check.sh tests 2>&1 | tail -3
J=$OUT/attn_long_ab.jsonl BUDGET_S=470 bash scripts/dev/ab_binaries.sh "effitune_base effitune" \
  llama-8b:q4_0:1:4150 llama-8b:q4_0:1:8000 llama-8b:bf16:1:8000 llama-8b:q4_0:1:16000 llama-8b-tp4-rank:bf16:1:16000 \
  llama-8b:bf16:2:8000 llama-8b-tp4-rank:bf16:4:8000 llama-1b:q4_0:1:8000 llama-8b:q4_0:1:128
