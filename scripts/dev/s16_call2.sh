#!/usr/bin/env bash
# Session 16, call 2 (one GPU): the decode attention pulling the output projection's weights into L2
# (EFFITUNE_ATTN_L2_PREFETCH_MB, 0 = off) at 0 / 24 / 12 MB, alternating, two runs each; the CUDA tests first.
# (The switch was reverted after this call, 98c6101: every row lost; bench/README.md, session 16.)
source scripts/device_env.sh >/dev/null
timeout 200 $C/effitune_cuda_tests 2>&1 | grep -E "^\[  (PASSED|FAILED)|Failure" | head
J=$OUT/attn_l2_prefetch_ab.jsonl
for r in 1 2; do for mb in 0 24 12; do
  export EFFITUNE_ATTN_L2_PREFETCH_MB=$mb
  $C/bench_cuda models=llama-8b,llama-1b quants=bf16,q8_0,q4_0 batches=1,64 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"mb$mb\",/" $OUT/t.jsonl >> $J
  $C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json --model synthetic:llama-8b-tp4-rank --batch 1,64 | sed "s/^{/{\"label\":\"mb$mb\",/" >> $J
done; done
python3 scripts/dev/ab_summary.py $J
