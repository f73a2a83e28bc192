#!/usr/bin/env bash
# Session 18, call 7 (one GPU; EFFITUNE_ATTN_CHUNK was cherry-picked back for the call at b8233c0, reverted after): at 16-64 rows the
# decode grid (sequences x KV heads) sits just below the SM count (TP=4 rank at batch 64: 128 < 132), so
# decode_attn_chunk keeps 64-position splits and the merge kernel. One 256-position split there instead?
# `effitune bench` 32- and 512-token prompts, 32 new tokens; 8B batch 16/32, one TP=4 rank 32/64, one
# TP=2 rank 16/32, 1B 16; chunk 64 against 256, alternating, two runs.
source scripts/device_env.sh >/dev/null
J=$OUT/attn_chunk_rows.jsonl
for r in 1 2; do for p in 32 512; do for v in 64 256; do
  for mb in llama-8b:16,32 llama-8b-tp4-rank:32,64 llama-8b-tp2-rank:16,32 llama-1b:16; do
    EFFITUNE_ATTN_CHUNK=$v timeout 100 $C/effitune bench --backend cuda --quant bf16 --model synthetic:${mb%%:*} \
      --batch ${mb##*:} --prompt $p --gen 32 --repetitions 1 --format json 2>/dev/null | sed "s/^{/{\"label\":\"p${p}_chunk$v\",/" >> $J
  done
done; done; done
python3 scripts/dev/ab_summary.py --median $J
