#!/usr/bin/env bash
# Session 16, call 7 (one GPU, asked for nvidia-h200): the final check at this session's code: CUDA
# tests, memcheck and the table, three runs.
BENCH_RUNS=3 bash scripts/gpu_check.sh all 2>&1 | tail -3
python3 scripts/dev/ab_summary.py --median $OUT/bench_cuda.jsonl
