#!/usr/bin/env bash
# Session 15, call 2 (one GPU): the tensor-core decode attention: tests, kernel alone, end to end A/B.
source scripts/device_env.sh
timeout 200 $C/effitune_cuda_tests > $OUT/cuda_tests.log 2>&1; echo "tests rc=$?"
grep -E "^\[  (FAILED|PASSED)|tests ran|Failure|Expected|Which|actual|tensor-core" $OUT/cuda_tests.log | head -30
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 7 $C/effitune_cuda_tests --gtest_filter='CudaOps.PagedAttention' > $OUT/memcheck_attn.log 2>&1
echo "memcheck rc=$?"; grep -E "ERROR SUMMARY" $OUT/memcheck_attn.log
$C/bench_attn kv=8,2 batch=1,64 ctx=64,512,2048 mma=0,1 > $OUT/attn.jsonl
python3 - "$OUT/attn.jsonl" <<'PY'
import json,sys
for l in open(sys.argv[1]):
  d=json.loads(l); print(d['kv_heads'],d['batch'],d['ctx'],'mma',d['mma'],d['us_per_launch'])
PY
B="$C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json"
for run in 1 2; do for mma in 0 1; do
  for m in llama-8b llama-1b llama-8b-tp4-rank; do
    EFFITUNE_ATTN_DECODE_MMA=$mma $B --model synthetic:$m --batch 1,64 | sed "s/^{/{\"label\":\"mma$mma\",/" >> $OUT/engine_ab.jsonl
  done
done; done
python3 - "$OUT/engine_ab.jsonl" <<'PY'
import json,sys,collections
r=collections.defaultdict(list)
for l in open(sys.argv[1]):
  d=json.loads(l); r[(d['model'],d['batch'],d['label'])].append(round(d['decode_tok_s'],1))
for k in sorted(r): print(k, r[k])
PY
