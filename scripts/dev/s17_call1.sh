#!/usr/bin/env bash
# Session 17, call 1 (asked for nvidia-h200-x2): the CUDA tests and memcheck at b8cfbb3 (the routing
# rules' move into matmul_route.h and the review mends, never run on a GPU), on all GPUs (greedy TP=2 =
# TP=1); the single-GPU table on GPU 0 when the cards are H200s (issue 4, up to 3 runs while time
# allows); then 8B bf16 TP = 1, 2 at batch 1 and 64, three runs alternating, all-reduce timing (issue 5).
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
ROOT=$OUT
OUT=$ROOT/tests bash scripts/gpu_check.sh tests 2>&1 | tail -5; el tests
if grep -q H200 "$ROOT/tests/device.txt"; then
  for run in 1 2 3; do
    [ $(( $(date +%s) - T0 )) -lt 330 ] || break
    OUT=$ROOT/table CUDA_VISIBLE_DEVICES=0 bash scripts/gpu_check.sh bench 2>&1 | grep -E "llama|summary" | tail -24
    mv "$ROOT/table/bench_cuda.jsonl" "$ROOT/table/bench_cuda_run$run.jsonl"; el table run $run
  done
fi
OUT=$ROOT/tp TP_RUNS=3 TP_STUDY=0 TP_DEGREES='1 2' TP_TESTS='*TensorParallel*' TP_RANK_ALONE=1 \
  bash scripts/gpu_check.sh tp 2>&1 | tail -12; el tp
