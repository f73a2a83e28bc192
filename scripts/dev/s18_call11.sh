#!/usr/bin/env bash
# Session 18, call 11 (one GPU): split length where both lengths need several waves (long contexts on
# TP ranks, 128 pairs and more): forced 64 against forced 256 (EFFITUNE_ATTN_CHUNK), `effitune bench`
# 32 new tokens, one run each, alternating. Call 10 measured TP=4 batch 64 at 2.31x TP=1 at 512-token
# prompts and 2.20x at 2,048 (one rank alone 2.68x / 2.45x): does the rank's attention lose there?
source scripts/device_env.sh >/dev/null
J=$OUT/chunk_long.jsonl
for v in 64 256; do
  for c in llama-8b-tp4-rank:64:2048 llama-8b-tp4-rank:64:1024 llama-8b-tp2-rank:64:2048 llama-8b:16:2048 llama-1b:16:2048; do
    IFS=: read -r m b p <<< "$c"
    EFFITUNE_ATTN_CHUNK=$v timeout 60 $C/effitune bench --backend cuda --quant bf16 --model synthetic:$m \
      --batch $b --prompt $p --gen 32 --repetitions 1 --format json 2>/dev/null | sed "s/^{/{\"label\":\"p${p}_chunk$v\",/" >> $J
  done
done
python3 scripts/dev/ab_summary.py --median $J
