#!/usr/bin/env bash
# Session 16, call 4 (one GPU): with the vectorized dequantization, where does dequantize + cuBLAS beat
# the streaming GEMM for quantized weights? bench_gemm at 16-128 rows (EFFITUNE_QUANT_GEMV_MAX_ROWS=8
# so that the old column is dequantize + cuBLAS at every row count), then end to end with
# EFFITUNE_QUANT_CUBLAS=R:E (temporary: products of >= R rows and < E weights to cuBLAS) unset /
# 17:40M / 17:all, alternating, two runs each.
source scripts/device_env.sh >/dev/null
EFFITUNE_QUANT_GEMV_MAX_ROWS=8 $C/bench_gemm kinds=bf16,q8_0,q4_0 rows=16,32,64,128 reps=20 out=$OUT/gemm_rows.jsonl > /dev/null
J=$OUT/quant_route_ab.jsonl
for r in 1 2; do for v in none 17:40000000 17:1000000000000; do
  if [ $v = none ]; then unset EFFITUNE_QUANT_CUBLAS; else export EFFITUNE_QUANT_CUBLAS=$v; fi
  $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=16,64,128 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"$v\",/" $OUT/t.jsonl >> $J
done; done
python3 scripts/dev/ab_summary.py $J
python3 - $OUT/gemm_rows.jsonl <<'PY'
import json,sys,collections
for l in open(sys.argv[1]):
  d=json.loads(l); print('gemm', d['shape'], d['kind'], d['rows'], round(d['old_us'],1), round(d['stream_us'],1))
PY
