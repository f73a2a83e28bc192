#!/usr/bin/env bash
# Session 19, call 2 (one GPU): decode splits sized to one wave (wave_fitted_split_length). The CUDA
# tests (PagedAttention now runs the tensor-core kernel at 128-768 positions a split) and memcheck over
# the attention test; the kernel alone at the rule's lengths against 64 and 256 (bench_attn); end to
# end, the rule against session 18's (EFFITUNE_ATTN_FIT_SPLITS=0), two runs each, alternating.
source scripts/device_env.sh >/dev/null
timeout 240 $C/effitune_cuda_tests > $OUT/cuda_tests.log 2>&1; echo "tests rc=$?"
grep -E "^\[  (FAILED|PASSED)|Failure" $OUT/cuda_tests.log | head
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 7 $C/effitune_cuda_tests --gtest_filter='CudaOps.PagedAttention' \
  > $OUT/memcheck_attention.log 2>&1; echo "memcheck rc=$?"; grep -E "ERROR SUMMARY" $OUT/memcheck_attention.log
A=$OUT/bench_attn_fit.jsonl
$C/bench_attn kv=2 batch=64 ctx=544,1056,2080 chunk=0,64,256 >> $A
$C/bench_attn kv=8 batch=16 ctx=544,1056,2080 chunk=0,64,256 >> $A
$C/bench_attn kv=8 batch=1 ctx=160,1056,4000 chunk=0,64,256 >> $A
python3 -c "
import json,sys
for l in open('$A'):
    r=json.loads(l); print(f\"kv {r['kv_heads']} b{r['batch']} ctx {r['ctx']}: chunk {r['chunk']:4d} splits {r['splits']:3d} {r['us_per_launch']:8.2f} us {r['kv_gb_s']:7.1f} GB/s\")"
RUNS=2 bash scripts/dev/ab_bench.sh EFFITUNE_ATTN_FIT_SPLITS "0 1" llama-8b-tp4-rank:bf16:64:512 llama-8b-tp4-rank:bf16:64:1024 \
  llama-8b-tp4-rank:bf16:64:2048 llama-8b:bf16:16:1024 llama-1b:bf16:16:1024 llama-8b:q4_0:1:4000 2>&1 | tail -14
cd $OUT && tar czf logs.tgz *.log && rm -f *.log && ls
