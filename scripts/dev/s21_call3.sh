#!/usr/bin/env bash
# Session 21, call 3 (one GPU): the wide decode-attention variant past one wave (bench/README session 20,
# Next 4: 8 KV heads batch 1 at 4,128 positions, 136 wide CTAs, ran 16.1 us against the rule's 23.1).
# The kernel alone, as the backend would plan it (chunk=0) against the wide variant forced on 256-position
# splits, head_dim 128, 8/4/2 KV heads (TP = 1/2/4), batch 1-8, 1,024-32,768 positions.
# (Rewritten after the call onto scripts/dev/ab_binaries.sh / attn_sweep_table.py: the same runs, order and labels.)
source scripts/device_env.sh >/dev/null
nvidia-smi -L
J=$OUT/attn_wide_waves.jsonl
for args in "chunk=0 wide=-1" "chunk=256 wide=1"; do
  timeout 280 "$C/bench_attn" kv=8,4,2 batch=1,2,4,8 ctx=1024,2048,3072,4128,5120,6144,8192,12288,16384,32768 \
    $args launches=100 reps=5 >> "$J" 2>"$OUT/err.txt" || { echo "rc=$?"; tail -3 "$OUT/err.txt"; }
done
python3 scripts/dev/attn_sweep_table.py "$J"
