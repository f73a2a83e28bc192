#!/usr/bin/env bash
# Session 20, call 14 (four GPUs): batch 1 at 4,000-token prompts, TP=1/2/4, 8B bf16 (a TP=4 rank's
# 2 KV heads take the wide decode attention's splits there: +17% for the rank alone in call 7), one
# run, all-reduce timed: how far more GPUs pay back at batch 1 when the context is long.
source scripts/device_env.sh >/dev/null
TP_PROMPT=4000 TP_RUNS=1 TP_STUDY=0 TP_BATCHES=1 TP_DEGREES='1 2 4' TP_RANK_ALONE=0 \
  TP_TESTS='CudaOps.DecodeSplitLengthChoice' bash scripts/gpu_check.sh tp 2>&1 | tail -5
