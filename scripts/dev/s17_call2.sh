#!/usr/bin/env bash
# Session 17, call 2 (one GPU): the streaming GEMM's 16-bit path on wgmma (sm_90a). Its tests first,
# then bench_gemm bf16 at 16-128 rows (stream vs the cuBLAS path), then end to end with bf16 on the
# streaming GEMM (EFFITUNE_GEMM_STREAM=1) against cuBLAS (default), alternating, two runs: 8B and 1B
# at batches 16, 64, 128, and one TP=4 rank of the 8B shape at batch 64.
source scripts/device_env.sh >/dev/null
timeout 200 $C/effitune_cuda_tests --gtest_filter='GemmStream*:CudaOps.Matmul*' 2>&1 | tee $OUT/tests.log |
  grep -E "^\[  (FAILED|PASSED)|Failure|Expected|Which|actual|NMSE|nmse" | head -30
[ ${PIPESTATUS[0]} -eq 0 ] || { echo "tests failed: no timings"; exit 1; }
timeout 120 $C/bench_gemm kinds=bf16 rows=16,32,64,128 out=$OUT/gemm.jsonl | tee $OUT/gemm.txt
J=$OUT/e2e.jsonl
for r in 1 2; do for v in cublas stream; do
  if [ $v = stream ]; then export EFFITUNE_GEMM_STREAM=1; else unset EFFITUNE_GEMM_STREAM; fi
  $C/bench_cuda models=llama-8b,llama-1b quants=bf16 batches=16,64,128 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"$v\",/" $OUT/t.jsonl >> $J
  $C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json \
    --model synthetic:llama-8b-tp4-rank --batch 64 2>/dev/null | sed "s/^{/{\"label\":\"$v\",/" >> $J
done; done
python3 scripts/dev/ab_summary.py --median $J
