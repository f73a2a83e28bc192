#!/usr/bin/env bash
# Session 17, call 6 (one GPU): Q8_0 joins Q4_0 on wgmma in the streaming GEMM. The tests both ways
# (EFFITUNE_STREAM_WGMMA=1 / 0), then end to end, q8_0 and q4_0, 8B and 1B at batches 8-128, wgmma
# against mma.sync, alternating, two runs.
source scripts/device_env.sh >/dev/null
source scripts/dev/ab_tests.sh EFFITUNE_STREAM_WGMMA 'GemmStream*:CudaOps.Matmul*:CudaOps.SyntheticModelsMatchCpu*' 1 0
J=$OUT/e2e.jsonl
for r in 1 2; do for v in 0 1; do
  EFFITUNE_STREAM_WGMMA=$v $C/bench_cuda models=llama-8b,llama-1b quants=q8_0,q4_0 batches=8,16,64,128 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"wg$v\",/" $OUT/t.jsonl >> $J
done; done
rm -f $OUT/t.jsonl
python3 scripts/dev/ab_summary.py --median $J
