#!/usr/bin/env bash
# Session 20, call 15 (one GPU): the review mends (use_decode_wide, decode_attn_live_splits, tokens read
# from the pinned buffer): the op and backend tests, and two batch-1 shapes against call 12's numbers.
source scripts/device_env.sh >/dev/null
"$C/effitune_cuda_tests" --gtest_filter='CudaOps.*:CudaBackend.*:CudaSampling.*' 2>&1 | tail -3
for shape in llama-1b:q4_0:128 llama-8b:q4_0:2048; do
  IFS=: read -r m q p <<< "$shape"
  timeout 100 "$C/effitune" bench --backend cuda --quant "$q" --model "synthetic:$m" --batch 1 --prompt "$p" --gen 32 \
    --repetitions 1 2>&1 | tail -1
done
