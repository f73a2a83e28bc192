#!/usr/bin/env bash
# Session 18, call 8 (one GPU): the one-wave rule for decode split lengths (use_long_splits:
# 256-position splits when they fit the step in one wave of the tensor-core kernel and 64-position
# ones do not), against the rule before it (EFFITUNE_ATTN_WAVE_SPLITS=0). Tests both ways first; then
# `effitune bench`, 32 new tokens, the shapes it changes and two it should not (TP=4 rank batch 64,
# 8B batch 1 at 1,024 positions), alternating, two runs.
source scripts/device_env.sh >/dev/null
source scripts/dev/ab_tests.sh EFFITUNE_ATTN_WAVE_SPLITS 'CudaOps.*:CudaBackend.SyntheticModelsMatchCpu:CudaBackend.MixedBatchMatchesCpu:CudaBackend.Stories260k*' 0 1
J=$OUT/wave_splits.jsonl
for r in 1 2; do for v in 0 1; do
  for c in llama-8b:bf16:1:1024 llama-8b:bf16:1:4000 llama-8b:bf16:4:2048 llama-8b:q4_0:4:2048 llama-8b-tp4-rank:bf16:32:512 \
           llama-8b-tp4-rank:bf16:64:512 llama-8b-tp2-rank:bf16:16:512 llama-1b:bf16:16:512 llama-1b:bf16:1:4000; do
    IFS=: read -r m q b p <<< "$c"
    EFFITUNE_ATTN_WAVE_SPLITS=$v timeout 100 $C/effitune bench --backend cuda --quant $q --model synthetic:$m \
      --batch $b --prompt $p --gen 32 --repetitions 1 --format json 2>/dev/null | sed "s/^{/{\"label\":\"p${p}_wave$v\",/" >> $J
  done
done; done
python3 scripts/dev/ab_summary.py --median $J
