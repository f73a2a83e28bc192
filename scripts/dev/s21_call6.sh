#!/usr/bin/env bash
# Session 21, call 6 (one GPU): the decode-attention merge with the splits side by side: every CUDA
# test and memcheck; the kernel alone at long contexts, the
# backend's rule against the wide ring variant forced onto 512-2,048-position splits; then end to end,
# the binary before the merge change (bd1086a, carried as effitune_base) against after, two runs
# alternating, batch 1 at 8,000- and 4,150-token prompts, 32 generated.
set -uo pipefail
source scripts/device_env.sh >/dev/null
bash scripts/gpu_check.sh tests 2>&1 | tail -4
J=$OUT/attn_merge_sweep.jsonl
for args in "chunk=0 wide=-1" "chunk=512 wide=1" "chunk=1024 wide=1" "chunk=2048 wide=1"; do
  timeout 120 "$C/bench_attn" kv=8,2 batch=1,2,4 ctx=4128,8192,16384,32768 $args launches=50 reps=5 >> "$J" \
    2>"$OUT/err.txt" || { echo "rc=$?"; tail -3 "$OUT/err.txt"; }
done
python3 - "$J" <<'PY'
import json, sys, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    j = json.loads(line)
    rows[(j["kv_heads"], j["batch"], j["ctx"])][j["chunk"] if j["wide"] == 1 else "rule"] = j
for (kv, b, ctx), r in sorted(rows.items()):
    a = r.get("rule")
    if not a: continue
    cells = [f"rule {a['chunk']}: {a['us_per_launch']:.2f}"]
    for c in (512, 1024, 2048):
        if c in r:
            live = kv * b * -(-ctx // c)
            cells.append(f"w{c} ({live}) {r[c]['us_per_launch']:.2f} x{a['us_per_launch'] / r[c]['us_per_launch']:.2f}")
    print(f"kv={kv} b={b} ctx={ctx}: " + " | ".join(cells))
PY
A=$OUT/merge_ab.jsonl
t0=$SECONDS
for r in 1 2; do
  for shape in llama-8b:q4_0:1:8000 llama-8b:bf16:1:8000 llama-1b:q4_0:1:8000 llama-8b-tp4-rank:bf16:1:8000 \
               llama-8b:q4_0:1:4150 llama-8b:q4_0:1:128; do
    IFS=: read -r m q b p <<< "$shape"
    for bin in effitune_base effitune; do
      (( SECONDS - t0 > 250 )) && break 3
      timeout 60 "$C/$bin" bench --backend cuda --quant "$q" --model "synthetic:$m" --batch "$b" --prompt "$p" --gen 32 \
        --repetitions 1 --format json 2>/dev/null | sed "s/^{/{\"label\":\"$bin p$p\",/" >> "$A"
    done
  done
done
echo "runs: $(wc -l < "$A") in $((SECONDS - t0)) s"
python3 scripts/dev/ab_summary.py --median "$A"
