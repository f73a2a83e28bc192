#!/usr/bin/env bash
# Session 16, call 8 (one GPU): the quantized GEMV with two weight rows a warp at 2-8 activation rows
# (EFFITUNE_GEMV_PAIR=1, the new default) against one (=0), batches 1 (control) 2 4 8, alternating,
# two runs each; the CUDA tests first (the pair kernel against float64 and the CPU backend).
source scripts/device_env.sh >/dev/null
timeout 200 $C/effitune_cuda_tests 2>&1 | grep -E "^\[  (PASSED|FAILED)|Failure|Expected|Which|rows" | head -20
J=$OUT/gemv_pair_ab.jsonl
for r in 1 2; do for v in 0 1; do
  export EFFITUNE_GEMV_PAIR=$v
  $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=1,2,4,8 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"pair$v\",/" $OUT/t.jsonl >> $J
done; done
python3 scripts/dev/ab_summary.py $J
