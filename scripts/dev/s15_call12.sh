#!/usr/bin/env bash
# Session 15, call 12 (one GPU): decode attention splits merged by the last split (no merge launch)
# against the merge kernel; tests, memcheck and racecheck first.
source scripts/device_env.sh >/dev/null
timeout 200 $C/effitune_cuda_tests > $OUT/cuda_tests.log 2>&1; echo "tests rc=$?"
grep -E "^\[  (FAILED|PASSED)|Failure|Expected|Which|actual" $OUT/cuda_tests.log | head -20
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 7 $C/effitune_cuda_tests --gtest_filter='CudaOps.PagedAttention:CudaBackend.*' > $OUT/memcheck.log 2>&1; echo "memcheck rc=$?"; grep "ERROR SUMMARY" $OUT/memcheck.log
timeout 60 compute-sanitizer --tool racecheck $C/effitune_cuda_tests --gtest_filter='CudaOps.PagedAttention' > $OUT/racecheck.log 2>&1; echo "racecheck rc=$?"; grep "RACECHECK SUMMARY" $OUT/racecheck.log
J=$OUT/fused_merge.jsonl
for r in 1 2; do for v in 0 1; do
  export EFFITUNE_ATTN_FUSED_MERGE=$v
  $C/bench_cuda models=llama-8b,llama-1b quants=bf16,q4_0 batches=1,64 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"fused$v\",/" $OUT/t.jsonl >> $J
  $C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json --model synthetic:llama-8b-tp4-rank --batch 1,64 | sed "s/^{/{\"label\":\"fused$v\",/" >> $J
done; done
unset EFFITUNE_ATTN_FUSED_MERGE
$C/bench_attn kv=8,2 batch=1,64 ctx=512,2048 mma=1 > $OUT/attn.jsonl
python3 - $J $OUT/attn.jsonl <<'PY'
import json,sys,collections
r=collections.defaultdict(list)
for l in open(sys.argv[1]):
  d=json.loads(l)
  if d['decode_tok_s']>0: r[(d['model'].replace('synthetic:',''),d['quant'],d['batch'],d['label'])].append(round(d['decode_tok_s'],1))
for k in sorted(r): print(k, r[k])
for l in open(sys.argv[2]):
  d=json.loads(l); print('attn', d['kv_heads'], d['batch'], d['ctx'], d['us_per_launch'])
PY
