#!/usr/bin/env bash
# Session 18, call 5 (one GPU; the switch ran at bda2aff and was reverted after): the decode attention at small batches in one split of 256 positions
# (no merge kernel) against splits of 64 and the merge (EFFITUNE_ATTN_CHUNK=256 / 64), at 128- and
# 1024-token prompts (64 new tokens), 8B and 1B, bf16 and q4_0, batch 1 and 4, alternating, two runs.
source scripts/device_env.sh >/dev/null
source scripts/dev/ab_tests.sh EFFITUNE_ATTN_CHUNK 'CudaOps.PagedAttention:CudaBackend.SyntheticModelsMatchCpu:CudaBackend.MixedBatchMatchesCpu:CudaBackend.Stories260k*' 64 256
J=$OUT/attn_chunk.jsonl
for r in 1 2; do for p in 128 1024; do for v in 64 256; do
  EFFITUNE_ATTN_CHUNK=$v $C/bench_cuda models=llama-8b,llama-1b quants=bf16,q4_0 batches=1,4 prefill=0 prompt=$p gen=64 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"p${p}_chunk$v\",/" $OUT/t.jsonl >> $J
done; done; done
rm -f $OUT/t.jsonl
python3 scripts/dev/ab_summary.py --median $J
