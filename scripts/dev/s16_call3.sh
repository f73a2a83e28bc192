#!/usr/bin/env bash
# Session 16, call 3 (one GPU): the vectorized dequantization of the cuBLAS path (more than 128 rows:
# prefill, batch 256) against the element-per-thread kernels (EFFITUNE_DEQUANT_SCALAR=1, temporary).
# CUDA tests first; then bench_gemm at 128 rows (GEMM_STREAM off there: dequant + cuBLAS; bf16 is the
# cuBLAS-only reference) and bench_cuda q8_0/q4_0 batch 256 and 512-token prefill, alternating, 2 runs.
source scripts/device_env.sh >/dev/null
timeout 200 $C/effitune_cuda_tests 2>&1 | grep -E "^\[  (PASSED|FAILED)|Failure|Dequant|Expected|Which" | head -20
J=$OUT/dequant_ab.jsonl
for r in 1 2; do for v in scalar vec; do
  if [ $v = scalar ]; then export EFFITUNE_DEQUANT_SCALAR=1; else unset EFFITUNE_DEQUANT_SCALAR; fi
  $C/bench_gemm kinds=bf16,q8_0,q4_0 rows=128 reps=20 out=$OUT/g.jsonl > /dev/null
  sed "s/^{/{\"label\":\"$v\",/" $OUT/g.jsonl >> $OUT/gemm_dequant_ab.jsonl
  $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=256 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"$v\",/" $OUT/t.jsonl >> $J
done; done
python3 scripts/dev/ab_summary.py $J
python3 - $OUT/gemm_dequant_ab.jsonl <<'PY'
import json,sys,collections
g=collections.defaultdict(list)
for l in open(sys.argv[1]):
  d=json.loads(l); g[(d['shape'],d['kind'],d['label'])].append(round(d['old_us'],1))
for k in sorted(g): print('gemm128', k, g[k])
PY
