#!/usr/bin/env bash
# Session 20, call 4 (four GPUs): the wide decode-attention variant (3d27af7's engine) under tensor
# parallelism: every CUDA test on the four GPUs (greedy TP=2 and TP=4 = TP=1 for 200 tokens), then 8B bf16
# at 128-token prompts (129-160 positions: a TP=4 rank's 128 pairs at batch 64 and 2 at batch 1 take
# the wide variant, TP=1's 512 pairs at batch 64 the 4-warp one), TP=1/2/4, batch 1 and 64, two runs,
# all-reduce timed, one rank alone.
source scripts/device_env.sh >/dev/null
TP_PROMPT=128 TP_RUNS=2 TP_STUDY=0 bash scripts/gpu_check.sh tp 2>&1 | tail -14
