#!/usr/bin/env bash
# Session 19, call 1 (four GPUs): e4694ae, whose second split-length rule (long splits where the
# 256-position grid needs two waves or more) never ran on a GPU: every CUDA test on four GPUs, TP=1/2/4
# at 2,048-token prompts (two runs) and 1,024 (batch 64, one run), and the rule's A/B on one GPU.
source scripts/device_env.sh >/dev/null
TP_PROMPT=2048 TP_RUNS=2 TP_STUDY=0 TP_TESTS='*' bash scripts/gpu_check.sh tp 2>&1 | tail -12
mv $OUT/tp_bench.jsonl $OUT/tp_bench_p2048.jsonl; mv $OUT/cuda_tests.log $OUT/cuda_tp_tests.log
TP_PROMPT=1024 TP_RUNS=1 TP_STUDY=0 TP_BATCHES=64 TP_DEGREES='1 4' TP_TESTS='CudaOps.DecodeSplitLengthChoice' \
  bash scripts/gpu_check.sh tp 2>&1 | tail -4
mv $OUT/tp_bench.jsonl $OUT/tp_bench_p1024.jsonl
RUNS=1 bash scripts/dev/ab_bench.sh EFFITUNE_ATTN_WAVE_SPLITS "0 1" llama-8b-tp4-rank:bf16:64:2048 \
  llama-8b:bf16:16:2048 llama-8b-tp4-rank:bf16:64:512 2>&1 | tail -8
cd $OUT && tar czf logs.tgz *.log && rm -f *.log && ls
