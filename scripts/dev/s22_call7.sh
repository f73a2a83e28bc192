#!/usr/bin/env bash
# Session 22, call 7 (one GPU): call 6 had kPipe losing at batch 1 (8B q4_0 -0.7%, 1B q8_0 -6.3%) and
# winning at batch 2 (8B q4_0 +2.8%, spreads apart), where each half-batch carries twice the multiply.
# The other batch-2 shapes, three runs alternating, before deciding whether batch 2 takes it.
source scripts/device_env.sh >/dev/null
nvidia-smi --query-gpu=name --format=csv,noheader
RUNS=3 GEN=32 bash scripts/dev/ab_bench.sh EFFITUNE_GEMV_PIPE "0 1" llama-8b:q8_0:2:128 llama-1b:q4_0:2:128 \
  llama-1b:q8_0:2:128 llama-8b:q4_0:2:1024 2>&1 | tail -10
