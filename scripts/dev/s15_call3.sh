#!/usr/bin/env bash
# Session 15, call 3 (one GPU): the cp.async version of the tensor-core decode attention.
source scripts/device_env.sh
timeout 200 $C/effitune_cuda_tests > $OUT/cuda_tests.log 2>&1; echo "tests rc=$?"
grep -E "^\[  (FAILED|PASSED)|tests ran|Failure|Expected|Which|actual|tensor-core" $OUT/cuda_tests.log | head -30
timeout 150 compute-sanitizer --tool memcheck --error-exitcode 7 $C/effitune_cuda_tests --gtest_filter='CudaOps.PagedAttention:CudaBackend.*' > $OUT/memcheck_attn.log 2>&1
echo "memcheck rc=$?"; grep -E "ERROR SUMMARY" $OUT/memcheck_attn.log
timeout 60 compute-sanitizer --tool racecheck $C/effitune_cuda_tests --gtest_filter='CudaOps.PagedAttention' > $OUT/racecheck_attn.log 2>&1
echo "racecheck rc=$?"; grep -E "ERROR SUMMARY|RACE" $OUT/racecheck_attn.log | head -3
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
EFFITUNE_ATTN_DECODE_MMA=1 $C/effitune bench --backend cuda --quant bf16 --prompt 1024 --gen 64 --repetitions 2 --format json --model synthetic:llama-8b --batch 1,64 | sed 's/^{/{"label":"mma1_long",/' >> $OUT/engine_ab.jsonl
EFFITUNE_ATTN_DECODE_MMA=0 $C/effitune bench --backend cuda --quant bf16 --prompt 1024 --gen 64 --repetitions 2 --format json --model synthetic:llama-8b --batch 1,64 | sed 's/^{/{"label":"mma0_long",/' >> $OUT/engine_ab.jsonl
python3 - "$OUT/engine_ab.jsonl" <<'PY'
import json,sys,collections
r=collections.defaultdict(list)
for l in open(sys.argv[1]):
  d=json.loads(l); r[(d['model'],d['batch'],d['label'])].append(round(d['decode_tok_s'],1))
for k in sorted(r): print(k, r[k])
PY
