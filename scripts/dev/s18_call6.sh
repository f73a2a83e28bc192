#!/usr/bin/env bash
# Session 18, call 6 (one GPU; the switch ran at ebad733 and was reverted after): do the quantized
# GEMV's 2-byte scale loads cost it DRAM efficiency? EFFITUNE_GEMV_NO_SCALES=1 skips them (wrong
# results, timing only): the GEMVs alone at 1 row (bench_gemm, 8B shapes) and 8B/1B decode at batch 1.
source scripts/device_env.sh >/dev/null
J=$OUT/noscales.jsonl
for r in 1 2; do for v in 0 1; do
  EFFITUNE_GEMV_NO_SCALES=$v $C/bench_gemm kinds=q4_0,q8_0 rows=1 shapes=qkv,o,gate_up,down,1b/gate_up reps=10 out=$OUT/g.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"noscales_$v\",/" $OUT/g.jsonl >> $OUT/gemv_noscales.jsonl
  EFFITUNE_GEMV_NO_SCALES=$v $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=1 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"noscales_$v\",/" $OUT/t.jsonl >> $J
done; done
rm -f $OUT/t.jsonl $OUT/g.jsonl
python3 scripts/dev/ab_summary.py --median $J
python3 - $OUT/gemv_noscales.jsonl <<'PY'
import json,sys,collections
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    r=json.loads(l); d[(r['shape'],r['kind'],r['label'])].append(r['old_us'])
for k in sorted(d): v=sorted(d[k]); print(k, "%.1f us"%v[len(v)//2], v)
PY
