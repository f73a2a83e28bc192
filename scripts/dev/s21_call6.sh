#!/usr/bin/env bash
# Session 21, call 6 (one GPU): the decode-attention merge with the splits side by side: every CUDA
# test and memcheck; the kernel alone at long contexts, the
# backend's rule against the wide ring variant forced onto 512-2,048-position splits; then end to end,
# the binary before the merge change (bd1086a, carried as effitune_base) against after, two runs
# alternating, batch 1 at 8,000- and 4,150-token prompts, 32 generated.
# (Rewritten after the call onto scripts/dev/ab_binaries.sh / attn_sweep_table.py: the same runs, order and labels.)
set -uo pipefail
source scripts/device_env.sh >/dev/null
bash scripts/gpu_check.sh tests 2>&1 | tail -4
J=$OUT/attn_merge_sweep.jsonl
for args in "chunk=0 wide=-1" "chunk=512 wide=1" "chunk=1024 wide=1" "chunk=2048 wide=1"; do
  timeout 120 "$C/bench_attn" kv=8,2 batch=1,2,4 ctx=4128,8192,16384,32768 $args launches=50 reps=5 >> "$J" \
    2>"$OUT/err.txt" || { echo "rc=$?"; tail -3 "$OUT/err.txt"; }
done
python3 scripts/dev/attn_sweep_table.py "$J"
J=$OUT/merge_ab.jsonl BUDGET_S=250 bash scripts/dev/ab_binaries.sh "effitune_base effitune" llama-8b:q4_0:1:8000 \
  llama-8b:bf16:1:8000 llama-1b:q4_0:1:8000 llama-8b-tp4-rank:bf16:1:8000 llama-8b:q4_0:1:4150 llama-8b:q4_0:1:128
