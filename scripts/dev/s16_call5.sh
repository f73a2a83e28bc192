#!/usr/bin/env bash
# Session 16, call 5 (one GPU): the quantized routing rule (gemm.cu quant_prefers_cublas: products under
# max(8M, 256K x rows) weights to dequantize + cuBLAS) against streaming every shape
# (EFFITUNE_QUANT_CUBLAS=0), batches 16-128, alternating, two runs each; the CUDA tests first.
source scripts/device_env.sh >/dev/null
timeout 200 $C/effitune_cuda_tests 2>&1 | grep -E "^\[  (PASSED|FAILED)|Failure|Expected|Which" | head -20
J=$OUT/quant_rule_ab.jsonl
for r in 1 2; do for v in 0 1; do
  export EFFITUNE_QUANT_CUBLAS=$v
  $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=16,32,64,128 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"rule$v\",/" $OUT/t.jsonl >> $J
done; done
python3 scripts/dev/ab_summary.py $J
