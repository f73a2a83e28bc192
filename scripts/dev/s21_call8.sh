#!/usr/bin/env bash
# Session 21, call 8 (one GPU): decode attention at head_dim 64 (the 1B shape, 8 KV heads, 4 query heads
# each) at long contexts, kernel alone: the backend's rule against the wide variant forced onto splits of
# 256 and onto its ring lengths (512, 1,024), batch 1, 2 and 4, 2,048-16,384 positions. The ring
# variant holds fewer CTAs an SM there than the 256-position kernel (112 registers against 91).
source scripts/device_env.sh >/dev/null
J=$OUT/attn_hd64_sweep.jsonl
for args in "chunk=0 wide=-1" "chunk=256 wide=1" "chunk=512 wide=1" "chunk=1024 wide=1"; do
  timeout 130 "$C/bench_attn" hd=64 kv=8 batch=1,2,4 ctx=2048,4128,8192,16384 $args launches=50 reps=5 >> "$J" \
    2>"$OUT/err.txt" || { echo "rc=$?"; tail -3 "$OUT/err.txt"; }
done
python3 scripts/dev/attn_sweep_table.py "$J"
