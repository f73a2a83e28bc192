#!/usr/bin/env bash
# Session 17, call 4 (asked for nvidia-h200-x4, which `status` listed for the first time): every CUDA
# test on all GPUs; when the cards are H200s, the issue-4 table on GPU 0 (three runs); then 8B bf16
# TP = 1, 2, 4 at batch 1 and 64 (issues 5 and 6), alternating, all-reduce timing, one rank alone.
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
ROOT=$OUT
OUT=$ROOT/tests bash scripts/gpu_check.sh tests 2>&1 | tail -3; el tests
if grep -q H200 "$ROOT/tests/device.txt"; then
  for run in 1 2 3; do
    OUT=$ROOT/table CUDA_VISIBLE_DEVICES=0 bash scripts/gpu_check.sh bench 2>&1 | grep summary
    mv "$ROOT/table/bench_cuda.jsonl" "$ROOT/table/table_run$run.jsonl"; el table run $run
  done
  cat "$ROOT"/table/table_run*.jsonl > "$ROOT/bench_cuda.jsonl"; rm -f "$ROOT"/table/table_run*.jsonl
  RUNS=3
else
  RUNS=2
fi
OUT=$ROOT/tp TP_RUNS=$RUNS TP_STUDY=0 TP_DEGREES='1 2 4' TP_TESTS='*TensorParallel*' \
  bash scripts/gpu_check.sh tp 2>&1 | tail -10; el tp
