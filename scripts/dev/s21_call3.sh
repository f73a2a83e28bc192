#!/usr/bin/env bash
# Session 21, call 3 (one GPU): the wide decode-attention variant past one wave (bench/README session 20,
# Next 4: 8 KV heads batch 1 at 4,128 positions, 136 wide CTAs, ran 16.1 us against the rule's 23.1).
# The kernel alone, as the backend would plan it (chunk=0) against the wide variant forced on 256-position
# splits, head_dim 128, 8/4/2 KV heads (TP = 1/2/4), batch 1-8, 1,024-32,768 positions.
source scripts/device_env.sh >/dev/null
nvidia-smi -L
J=$OUT/attn_wide_waves.jsonl
for args in "chunk=0 wide=-1" "chunk=256 wide=1"; do
  timeout 280 "$C/bench_attn" kv=8,4,2 batch=1,2,4,8 ctx=1024,2048,3072,4128,5120,6144,8192,12288,16384,32768 \
    $args launches=100 reps=5 >> "$J" 2>"$OUT/err.txt" || { echo "rc=$?"; tail -3 "$OUT/err.txt"; }
done
python3 - "$J" <<'PY'
import json, sys, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    j = json.loads(line)
    rows[(j["kv_heads"], j["batch"], j["ctx"])]["wide" if j["wide"] == 1 and j["chunk"] == 256 else "rule"] = j
for (kv, b, ctx), r in sorted(rows.items()):
    if "rule" in r and "wide" in r:
        a, w = r["rule"], r["wide"]
        print(f"kv={kv} b={b} ctx={ctx}: rule chunk {a['chunk']} wide {a['wide']} splits {a['splits']} {a['us_per_launch']:.2f} us | wide256 splits {w['splits']} ctas {kv*b*w['splits']} {w['us_per_launch']:.2f} us  x{a['us_per_launch']/w['us_per_launch']:.2f}")
PY
