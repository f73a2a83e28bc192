#!/usr/bin/env bash
# Session 19, call 5 (one GPU): at short contexts (128-token prompts, 129-160 positions) and 64-128
# (KV head, sequence) pairs, 64-position splits (three, and a merge: what the one-wave rule takes) against
# one split of 256 (no merge), two runs each, alternating: the table's 8B batch-16 row moved with this.
RUNS=2 bash scripts/dev/ab_bench.sh EFFITUNE_ATTN_CHUNK "64 256" llama-8b:bf16:16:128 llama-1b:bf16:16:128 \
  llama-8b-tp4-rank:bf16:32:128 llama-8b-tp2-rank:bf16:32:128 llama-8b:q4_0:16:128 2>&1 | tail -12
