#!/usr/bin/env bash
# Session 22, call 2 (four GPUs): the tensor-parallel, prefill and paged-attention tests on four GPUs
# at HEAD (the prefill kernel of 64126c5 and the P V helper had not run under TP: greedy TP=2 and TP=4 =
# TP=1 for 200 tokens), then 8B bf16 TP=1/2/4 at 128-token prompts (batch 1 and 64, two runs,
# all-reduce timed, a rank alone), and TP=1/4 at batch 64 at 2,048 (two runs, a rank alone) and 1,024
# (one run): where issue 6's 2.8x holds at the last engine.
source scripts/device_env.sh >/dev/null
nvidia-smi -L | tee "$OUT/cards.txt"
TP_PROMPT=128 TP_RUNS=2 TP_STUDY=0 TP_TESTS='*TensorParallel*:*Prefill*:*PagedAttention*' \
  bash scripts/gpu_check.sh tp 2>&1 | tail -14
mv $OUT/tp_bench.jsonl $OUT/tp_p128.jsonl; mv $OUT/gpu_check_logs.tgz $OUT/logs_p128.tgz
for pr in "2048 2 1" "1024 1 0"; do
  read -r p runs alone <<< "$pr"
  TP_PROMPT=$p TP_RUNS=$runs TP_STUDY=0 TP_BATCHES=64 TP_DEGREES='1 4' TP_RANK_ALONE=$alone \
    TP_TESTS='CudaOps.DecodeSplitLengthChoice' bash scripts/gpu_check.sh tp 2>&1 | tail -5
  mv $OUT/tp_bench.jsonl $OUT/tp_p$p.jsonl
done
ls $OUT
