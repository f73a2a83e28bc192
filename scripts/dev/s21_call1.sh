#!/usr/bin/env bash
# Session 21, call 1 (asked for `nvidia-h200`): the card first, then every CUDA test, memcheck over them and
# the benchmark table (median of 3) at the last engine (bef5591): issue 4's table if an H200 came, the
# closing H100 record if not.
source scripts/device_env.sh >/dev/null
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/card.txt"
BENCH_RUNS=3 bash scripts/gpu_check.sh all 2>&1 | tail -30
