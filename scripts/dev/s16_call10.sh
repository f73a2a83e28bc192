#!/usr/bin/env bash
# Session 16, call 10 (one GPU, asked for nvidia-h200): the final check at this session's code: CUDA
# tests, memcheck and the table (three runs), then batches 2-8 quantized with the Q4_0 GEMV limit of 4.
BENCH_RUNS=3 bash scripts/gpu_check.sh all 2>&1 | tail -2
source scripts/device_env.sh >/dev/null
$C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=2,4,6,8 prefill=0 out=$OUT/small_batches.jsonl > /dev/null 2>&1
python3 scripts/dev/ab_summary.py --median $OUT/bench_cuda.jsonl $OUT/small_batches.jsonl
