#!/usr/bin/env bash
# Session 19, call 4 (one GPU): HEAD's one-GPU check with the one-wave split lengths: every CUDA test,
# memcheck over them, and issue 4's table three times (medians), within the session's device budget.
timeout 470 env BENCH_RUNS=3 bash scripts/gpu_check.sh all 2>&1 | grep -vE "^\{" | tail -45
ls $OUT 2>/dev/null || ls out
