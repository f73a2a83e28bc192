#!/usr/bin/env bash
# Session 22, call 1 (one GPU): session 21 ended with the P V product shared by the decode and prefill
# kernels (mma_pv16, 87ce4ce) compiled but never run. Every CUDA test and memcheck at HEAD, then the
# binary before the helper (64126c5, effitune_base) against HEAD at shapes that take the 4-warp, wide,
# ring and prefill kernels at head_dim 128 and 64 (prediction: within +-1%, the same arithmetic).
source scripts/device_env.sh >/dev/null
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/card.txt"
bash scripts/gpu_check.sh tests 2>&1 | tail -12
J=$OUT/pv16_ab.jsonl RUNS=2 GEN=32 BUDGET_S=300 bash scripts/dev/ab_binaries.sh "effitune_base effitune" \
  llama-8b:q4_0:1:128 llama-8b:q4_0:1:8000 llama-8b:bf16:1:16000 llama-1b:q4_0:1:8000 llama-1b:bf16:1:128 \
  llama-8b:bf16:4:512 2>&1 | tail -20
