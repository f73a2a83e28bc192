#!/usr/bin/env bash
# Session 17, call 5 (one GPU): Q4_0 in the streaming GEMM on wgmma (A dequantized in registers, the
# activations read from shared memory by the tensor cores) against mma.sync (EFFITUNE_STREAM_WGMMA=0):
# the tests both ways, bench_gemm q4_0 at 16-128 rows both ways, then end to end (8B and 1B q4_0,
# batches 8-128), alternating, two runs.
source scripts/device_env.sh >/dev/null
source scripts/dev/ab_tests.sh EFFITUNE_STREAM_WGMMA 'GemmStream*:CudaOps.Matmul*:CudaOps.SyntheticModelsMatchCpu*' 1 0
for v in 0 1; do
  EFFITUNE_STREAM_WGMMA=$v timeout 120 $C/bench_gemm kinds=q4_0 rows=16,32,64,128 out=$OUT/gemm_wg$v.jsonl > $OUT/gemm_wg$v.txt
done
python3 - $OUT/gemm_wg0.jsonl $OUT/gemm_wg1.jsonl <<'PY'
import json, sys
a = {(r["shape"], r["rows"]): r for r in map(json.loads, open(sys.argv[1]))}
b = {(r["shape"], r["rows"]): r for r in map(json.loads, open(sys.argv[2]))}
for k in a:
    print(f"{k[0]:12s} {k[1]:4d} cublas {a[k]['old_us']:7.1f}  mma.sync {a[k]['stream_us']:7.1f}  wgmma {b[k]['stream_us']:7.1f}  x{a[k]['stream_us'] / b[k]['stream_us']:.2f}")
PY
J=$OUT/e2e.jsonl
for r in 1 2; do for v in 0 1; do
  EFFITUNE_STREAM_WGMMA=$v $C/bench_cuda models=llama-8b,llama-1b quants=q4_0 batches=8,16,64,128 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"wg$v\",/" $OUT/t.jsonl >> $J
done; done
rm -f $OUT/t.jsonl
python3 scripts/dev/ab_summary.py --median $J
