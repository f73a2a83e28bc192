#!/usr/bin/env bash
# Session 16, call 9 (one GPU): quantized weights at 2-8 activation rows: the GEMV up to 8 rows (the
# default) against the GEMV up to 4 / 2 rows and the streaming GEMM or dequantize + cuBLAS above
# (EFFITUNE_QUANT_GEMV_MAX_ROWS, now that the streaming GEMM takes 2+ rows), alternating, two runs;
# the CUDA tests first.
source scripts/device_env.sh >/dev/null
timeout 200 $C/effitune_cuda_tests 2>&1 | grep -E "^\[  (PASSED|FAILED)|Failure|Expected|Which" | head -20
J=$OUT/quant_gemv_rows_ab.jsonl
for r in 1 2; do for v in 8 4 2; do
  export EFFITUNE_QUANT_GEMV_MAX_ROWS=$v
  $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=2,4,6,8 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"gemv$v\",/" $OUT/t.jsonl >> $J
done; done
python3 scripts/dev/ab_summary.py $J
