#!/usr/bin/env bash
# Session 19, call 7 (one GPU): the table's batch-16 shapes exactly (128-token prompts, 64 generated,
# 129-192 positions): 64-position splits against one of 256, three runs each, alternating (call 6's 1B row
# fell 1.6% against call 4's on another machine, where call 5's A/B at 129-160 positions had +2.9%).
RUNS=3 GEN=64 bash scripts/dev/ab_bench.sh EFFITUNE_ATTN_CHUNK "64 256" llama-1b:bf16:16:128 llama-8b:bf16:16:128 2>&1 | tail -5
