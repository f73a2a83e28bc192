#!/usr/bin/env bash
# Session 17, call 9 (one GPU): with the quantized streaming GEMM on wgmma, do session 16's two routing
# rules still hold? End to end, 8B and 1B, q8_0 and q4_0, batches 16, 64, 128: the default against
# EFFITUNE_STREAM_TWO_CTAS=1 (two CTAs an SM for every 64-row product) and EFFITUNE_QUANT_CUBLAS=0 (every
# product past the GEMV to the streaming GEMM, none to dequantize + cuBLAS), alternating, two runs.
source scripts/device_env.sh >/dev/null
J=$OUT/rules.jsonl
for r in 1 2; do for v in default two_ctas stream_all; do
  unset EFFITUNE_STREAM_TWO_CTAS EFFITUNE_QUANT_CUBLAS
  [ $v = two_ctas ] && export EFFITUNE_STREAM_TWO_CTAS=1
  [ $v = stream_all ] && export EFFITUNE_QUANT_CUBLAS=0
  $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=16,64,128 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"$v\",/" $OUT/t.jsonl >> $J
done; done
rm -f $OUT/t.jsonl
python3 scripts/dev/ab_summary.py --median $J
