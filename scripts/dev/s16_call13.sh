#!/usr/bin/env bash
# Session 16, call 13 (one GPU): the streaming GEMM's 64-row variant at 128 registers, two CTAs an SM
# (EFFITUNE_STREAM_TWO_CTAS=1, the new default) against 156-191 registers and one (=0): the CUDA tests,
# bench_gemm at 16 and 64 rows, and end to end at batches 8, 16, 64, alternating, two runs each.
source scripts/device_env.sh >/dev/null
timeout 200 $C/effitune_cuda_tests 2>&1 | grep -E "^\[  (PASSED|FAILED)|Failure|Expected|Which" | head -20
for v in 0 1; do
  EFFITUNE_STREAM_TWO_CTAS=$v $C/bench_gemm kinds=bf16,q8_0,q4_0 rows=16,64 reps=20 out=$OUT/g.jsonl > /dev/null
  sed "s/^{/{\"label\":\"two$v\",/" $OUT/g.jsonl >> $OUT/stream_two_ctas_gemm.jsonl
done
J=$OUT/stream_two_ctas_ab.jsonl
for r in 1 2; do for v in 0 1; do
  export EFFITUNE_STREAM_TWO_CTAS=$v
  $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=8,16,64 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"two$v\",/" $OUT/t.jsonl >> $J
done; done
python3 scripts/dev/ab_summary.py $J
python3 - $OUT/stream_two_ctas_gemm.jsonl <<'PY'
import json,sys,collections
g=collections.defaultdict(dict)
for l in open(sys.argv[1]):
  d=json.loads(l); g[(d['shape'],d['kind'],d['rows'])][d['label']]=round(d['stream_us'],1)
for k in sorted(g): print('stream_us', k, g[k].get('two0'), '->', g[k].get('two1'))
PY
