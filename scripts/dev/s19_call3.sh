#!/usr/bin/env bash
# Session 19, call 3 (four GPUs): TP=1/2/4 with decode splits sized to one wave (3285039): the
# tensor-parallel tests (greedy TP=N = TP=1 for 200 tokens), then 8B bf16 at 1,024-token prompts (TP=1/2/4,
# batch 1 and 64, two runs, all-reduce timed, one rank alone), at 2,048 and 512 (TP=1 and 4, batch 64).
source scripts/device_env.sh >/dev/null
TP_PROMPT=1024 TP_RUNS=2 TP_STUDY=0 TP_TESTS='*TensorParallel*:*SplitLength*' bash scripts/gpu_check.sh tp 2>&1 | tail -12
mv $OUT/tp_bench.jsonl $OUT/tp_p1024.jsonl; mv $OUT/gpu_check_logs.tgz $OUT/logs_p1024.tgz
for p in 2048 512; do
  TP_PROMPT=$p TP_RUNS=2 TP_STUDY=0 TP_BATCHES=64 TP_DEGREES='1 4' TP_RANK_ALONE=0 TP_TESTS='CudaOps.DecodeSplitLengthFitsOneWave' \
    bash scripts/gpu_check.sh tp 2>&1 | tail -3
  mv $OUT/tp_bench.jsonl $OUT/tp_p$p.jsonl
done
ls $OUT
