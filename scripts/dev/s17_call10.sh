#!/usr/bin/env bash
# Session 17, call 10 (one GPU): stream-K in the streaming GEMM (one resident wave of CTAs, each the
# same number of K tiles, a slab's pieces summed in order by the last) against the per-slab split
# plan (EFFITUNE_STREAM_K=0). Tests first; bench_gemm q4_0 and q8_0 both ways; then end to end, 8B
# and 1B, q8_0 and q4_0, batches 16, 64, 128, alternating, two runs.
source scripts/device_env.sh >/dev/null
source scripts/dev/ab_tests.sh EFFITUNE_STREAM_K 'GemmStream*:CudaOps.Matmul*:CudaOps.SyntheticModelsMatchCpu*' 1 0
for v in 0 1; do
  EFFITUNE_STREAM_K=$v timeout 120 $C/bench_gemm kinds=q4_0,q8_0 rows=16,64,128 out=$OUT/gemm_sk$v.jsonl > /dev/null
done
python3 - $OUT/gemm_sk0.jsonl $OUT/gemm_sk1.jsonl <<'PY'
import json, sys
a = {(r["kind"], r["shape"], r["rows"]): r for r in map(json.loads, open(sys.argv[1]))}
b = {(r["kind"], r["shape"], r["rows"]): r for r in map(json.loads, open(sys.argv[2]))}
for k in a:
    if k[1].startswith(("qkv", "o", "gate_up", "down", "1b/")) and k[2] == 64 or k[1] in ("qkv", "gate_up"):
        print(f"{k[0]} {k[1]:12s} {k[2]:4d} cuBLAS {a[k]['old_us']:7.1f}  splits {a[k]['stream_us']:7.1f}  stream-K {b[k]['stream_us']:7.1f}  x{a[k]['stream_us'] / b[k]['stream_us']:.2f}")
PY
J=$OUT/e2e.jsonl
for r in 1 2; do for v in 0 1; do
  EFFITUNE_STREAM_K=$v $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=16,64,128 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"sk$v\",/" $OUT/t.jsonl >> $J
done; done
rm -f $OUT/t.jsonl
python3 scripts/dev/ab_summary.py --median $J
