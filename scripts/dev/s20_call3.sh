#!/usr/bin/env bash
# Session 20, call 3 (one GPU): does the K/V cache layout bound the decode attention's bandwidth?
# The cache is [block][position][KV head][dim]: one head's 16 positions of a block are 256-byte rows
# kv_dim apart. At the same (KV head, sequence) pairs and bytes, 1 KV head makes each block's rows of
# a head contiguous (what a head-major block layout would give every head count), 2 and 8 do not.
set -uo pipefail
source scripts/device_env.sh >/dev/null
A=$C/bench_attn
{
  "$A" kv=1 batch=128 ctx=544,1056,2080,4128 reps=7
  "$A" kv=2 batch=64 ctx=544,1056,2080,4128 reps=7
  "$A" kv=8 batch=16 ctx=544,1056,2080,4128 reps=7
  "$A" kv=1 batch=8 ctx=4128 reps=7
  "$A" kv=8 batch=1 ctx=4128 reps=7
} | tee "$OUT/bench_attn_layout.jsonl" | python3 -c "
import sys, json
for l in sys.stdin:
    d = json.loads(l)
    print(d['kv_heads'], d['batch'], d['ctx'], d['chunk'], d['splits'], d['us_per_launch'], d['kv_gb_s'])"
