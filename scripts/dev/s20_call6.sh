#!/usr/bin/env bash
# Session 20, call 6 (one GPU): the wide decode-attention variant beyond one split. Kernel alone
# (bench_attn), the split-length rule's choice (chunk=0) against 256-position splits on the wide
# variant (every tile of a split copied before the PDL wait, then the merge), at small batches and
# 544-4,128 positions, 8 KV heads (the 8B shape) and 2 (a TP=4 rank).
set -uo pipefail
source scripts/device_env.sh >/dev/null
A=$C/bench_attn
{
  "$A" kv=8 batch=1,2,4 ctx=544,1056,2080,4128 chunk=0 reps=7
  "$A" kv=8 batch=1,2,4 ctx=544,1056,2080,4128 chunk=256 wide=0,1 reps=7
  "$A" kv=2 batch=1,4 ctx=1056,4128 chunk=0 reps=7
  "$A" kv=2 batch=1,4 ctx=1056,4128 chunk=256 wide=1 reps=7
} | tee "$OUT/bench_attn_wide_splits.jsonl" | python3 -c "
import sys, json
for l in sys.stdin:
    d = json.loads(l)
    print(d['kv_heads'], d['batch'], d['ctx'], d['chunk'], d['splits'], d['wide'], d['us_per_launch'])"
