#!/usr/bin/env bash
# Session 22, call 3 (one GPU): issue 4's rows at HEAD (0ab60b3: session 21's decode, merge and prefill
# attention and the P V helper), median of 3: batch 1 and 64, every weight format, 512-token prefill.
source scripts/device_env.sh >/dev/null
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/card.txt"
BENCH_RUNS=3 BENCH_ARGS="batches=1,64" bash scripts/gpu_check.sh bench 2>&1 | tail -22
