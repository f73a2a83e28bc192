#!/usr/bin/env bash
# Session 16, call 1 (one GPU): validate 80d0e3c (the review mends, compiled only last session): CUDA
# tests, memcheck and the table (3 runs); then the GEMVs alone at 1 and 2 rows (bf16, q8_0, q4_0) and the
# streaming-read floor, the baseline for the batch-1 work.
BENCH_RUNS=3 bash scripts/gpu_check.sh all 2>&1 | tail -30
source scripts/device_env.sh >/dev/null
$C/bench_gemm kinds=bf16,q8_0,q4_0 rows=1,2 reps=30 out=$OUT/gemv_rows1.jsonl
$C/bench_stream reps=20 grid=both 2>&1 | tail -30
