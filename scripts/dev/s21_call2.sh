#!/usr/bin/env bash
# Session 21, call 2 (asked for `nvidia-h200-x4`): every CUDA test on the four GPUs at the last engine
# (bef5591: greedy TP=2 and TP=4 = TP=1 for 200 tokens), then 8B bf16 at 128-token prompts, TP=1/2/4,
# batch 1 and 64, all-reduce timed, one rank alone: two runs if H200s came (issue 6's named card,
# never lent so far), one as the closing H100 record if not.
source scripts/device_env.sh >/dev/null
nvidia-smi -L | tee "$OUT/cards.txt"
runs=1; nvidia-smi -L | grep -q H200 && runs=2
TP_PROMPT=128 TP_RUNS=$runs TP_STUDY=0 bash scripts/gpu_check.sh tp 2>&1 | tail -14
