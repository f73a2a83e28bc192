#!/usr/bin/env bash
# Session 18, call 10 (four GPUs, asked for nvidia-h100-x4): TP=1/2/4 at 512- and 2,048-token prompts
# (batch 1 and 64, 8B bf16, two runs at 512 and one at 2,048, all-reduce timed, one rank alone), after every
# CUDA test on four GPUs: how TP's scaling and its batch-1 E1 move with the context length.
source scripts/device_env.sh >/dev/null
TP_PROMPT=512 TP_RUNS=2 TP_STUDY=0 TP_TESTS='*' bash scripts/gpu_check.sh tp 2>&1 | tail -12
mv $OUT/tp_bench.jsonl $OUT/tp_bench_p512.jsonl; mv $OUT/cuda_tests.log $OUT/cuda_tp_tests.log
TP_PROMPT=2048 TP_RUNS=1 TP_STUDY=0 TP_TESTS='CudaOps.DecodeSplitLengthChoice' bash scripts/gpu_check.sh tp 2>&1 | tail -11
mv $OUT/tp_bench.jsonl $OUT/tp_bench_p2048.jsonl
ls $OUT
