#!/usr/bin/env bash
# Session 16, call 14 (one GPU): the two-CTA build of the streaming GEMM only for products of more slabs
# than SMs (the default now) against never (EFFITUNE_STREAM_TWO_CTAS=0), end to end at batches 8, 16,
# 64, alternating, two runs; the CUDA tests and memcheck first.
bash scripts/gpu_check.sh tests 2>&1 | tail -4
source scripts/device_env.sh >/dev/null
J=$OUT/stream_two_ctas_rule_ab.jsonl
for r in 1 2; do for v in 0 rule; do
  if [ $v = rule ]; then unset EFFITUNE_STREAM_TWO_CTAS; else export EFFITUNE_STREAM_TWO_CTAS=0; fi
  $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=8,16,64 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"$v\",/" $OUT/t.jsonl >> $J
done; done
python3 scripts/dev/ab_summary.py $J
