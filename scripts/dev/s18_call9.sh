#!/usr/bin/env bash
# Session 18, call 9 (one GPU; the change ran at 1e9434e and was reverted after): decode splits merged by the tensor-core kernel's last CTA
# (AttnArgs::split_done) instead of a merge kernel, against the merge kernel (EFFITUNE_ATTN_FOLD_MERGE=0).
# Tests both ways and memcheck with the fold first; then bench_cuda's decode (128-token prompts: four
# splits at batch 1-16) and `effitune bench` at 512-token prompts, alternating, two runs.
source scripts/device_env.sh >/dev/null
source scripts/dev/ab_tests.sh EFFITUNE_ATTN_FOLD_MERGE 'CudaOps.PagedAttention:CudaBackend.*:CudaSampling.ForwardSample*' 0 1
timeout 200 compute-sanitizer --tool memcheck --error-exitcode 7 $C/effitune_cuda_tests \
  --gtest_filter='CudaOps.PagedAttention:CudaBackend.SyntheticModelsMatchCpu:CudaBackend.MixedBatchMatchesCpu' > $OUT/memcheck_fold.log 2>&1
echo "memcheck rc=$?"; grep -E "ERROR SUMMARY" $OUT/memcheck_fold.log | tail -1
J=$OUT/fold_merge.jsonl
for r in 1 2; do for v in 0 1; do
  EFFITUNE_ATTN_FOLD_MERGE=$v $C/bench_cuda models=llama-8b,llama-1b quants=bf16,q4_0 batches=1,4,16 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"p128_fold$v\",/" $OUT/t.jsonl >> $J
  for c in llama-8b-tp4-rank:32 llama-8b:1 llama-1b:1; do
    EFFITUNE_ATTN_FOLD_MERGE=$v timeout 100 $C/effitune bench --backend cuda --quant bf16 --model synthetic:${c%%:*} \
      --batch ${c##*:} --prompt 512 --gen 32 --repetitions 1 --format json 2>/dev/null | sed "s/^{/{\"label\":\"p512_fold$v\",/" >> $J
  done
done; done
rm -f $OUT/t.jsonl
python3 scripts/dev/ab_summary.py --median $J
