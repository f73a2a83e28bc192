#!/usr/bin/env bash
# Session 15, call 10 (one GPU): where a batch-1 decode step goes (CUPTI kernel trace), 1B bf16 and
# 8B q4_0, 32-token prompt, 128 generated.
source scripts/device_env.sh >/dev/null
for m in "llama-1b bf16" "llama-8b q4_0" "llama-8b bf16"; do
  set -- $m
  EFFITUNE_CUDA_TRACE=$OUT/trace_$1_$2.json $C/effitune bench --backend cuda --quant $2 --prompt 32 --gen 128 --repetitions 2 --model synthetic:$1 --batch 1 2>&1 | grep -E "decode|tok/s" | head -3
done
ls -la $OUT
