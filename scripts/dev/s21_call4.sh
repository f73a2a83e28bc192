#!/usr/bin/env bash
# Session 21, call 4 (one GPU): the wide decode attention up to one and a half waves from 8 splits a pair
# (wide_fits), end to end: the binary before (bef5591, carried as effitune_base) against after, three runs
# alternating, 32 generated, at contexts where the rule changes (8B batch 1 at ~4,150 and ~5,900
# positions: 136 and 192 CTAs; a TP=4 rank's 2 KV heads at batch 4; the 1B shape's head_dim 64, three
# wide CTAs an SM, at batch 4 and ~4,150: 544 CTAs) and one where it does not (8B q4_0 at 128); the
# op tests of the choice first.
# (Rewritten after the call onto scripts/dev/ab_binaries.sh / attn_sweep_table.py: the same runs, order and labels.)
set -uo pipefail
source scripts/device_env.sh >/dev/null
"$C/effitune_cuda_tests" --gtest_filter='CudaOps.Decode*:CudaOps.PagedAttention' 2>&1 | tail -2
J=$OUT/wide_waves_ab.jsonl RUNS=3 BUDGET_S=520 bash scripts/dev/ab_binaries.sh "effitune_base effitune" \
  llama-8b:q4_0:1:4150 llama-8b:bf16:1:4150 llama-8b:q4_0:1:5900 llama-8b-tp4-rank:bf16:4:4150 \
  llama-8b:bf16:2:2900 llama-1b:bf16:4:4150 llama-1b:q4_0:4:4150 llama-8b:q4_0:1:128
