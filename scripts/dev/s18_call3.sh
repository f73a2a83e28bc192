#!/usr/bin/env bash
# Session 18, call 3 (one GPU; the switch ran at c8a8225 and was reverted after): the quantized GEMV asking L2 for its next rows ahead of its register
# loads (EFFITUNE_GEMV_L2_AHEAD=1, cp.async.bulk.prefetch.L2). Tests both ways and memcheck first, then
# 8B and 1B q8_0/q4_0 decode at batch 1, 4 and 8, alternating, two runs each.
source scripts/device_env.sh >/dev/null
source scripts/dev/ab_tests.sh EFFITUNE_GEMV_L2_AHEAD 'CudaOps.Matmul*:CudaBackend.SyntheticModelsMatchCpu:CudaBackend.MixedBatchMatchesCpu' 0 1
EFFITUNE_GEMV_L2_AHEAD=1 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 7 $C/effitune_cuda_tests \
  --gtest_filter='CudaOps.Matmul*:CudaBackend.SyntheticModelsMatchCpu' > $OUT/memcheck_l2ahead.log 2>&1
echo "memcheck rc=$?"; grep -E "ERROR SUMMARY" $OUT/memcheck_l2ahead.log | tail -1
J=$OUT/l2ahead.jsonl
for r in 1 2; do for v in 0 1; do
  EFFITUNE_GEMV_L2_AHEAD=$v $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=1,4,8 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"l2ahead_$v\",/" $OUT/t.jsonl >> $J
done; done
rm -f $OUT/t.jsonl
python3 scripts/dev/ab_summary.py --median $J
