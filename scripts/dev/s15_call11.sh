#!/usr/bin/env bash
# Session 15, call 11 (one GPU): batch-1 decode with one attention split while contexts fit 256
# positions (no merge launch) against the splits of 64.
source scripts/device_env.sh >/dev/null
J=$OUT/one_split.jsonl
for r in 1 2; do for v in 0 1; do
  if [ $v = 1 ]; then export EFFITUNE_ATTN_ONE_SPLIT=1; else unset EFFITUNE_ATTN_ONE_SPLIT; fi
  $C/bench_cuda models=llama-8b,llama-1b quants=bf16,q4_0 batches=1 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"one_split$v\",/" $OUT/t.jsonl >> $J
  $C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json --model synthetic:llama-8b-tp4-rank --batch 1,64 | sed "s/^{/{\"label\":\"one_split$v\",/" >> $J
done; done
unset EFFITUNE_ATTN_ONE_SPLIT
EFFITUNE_ATTN_ONE_SPLIT=1 timeout 120 $C/effitune_cuda_tests --gtest_filter='CudaBackend.*' 2>&1 | grep -E "^\[  (PASSED|FAILED)"
python3 - $J <<'PY'
import json,sys,collections,statistics
r=collections.defaultdict(list)
for l in open(sys.argv[1]):
  d=json.loads(l)
  if d['decode_tok_s']>0: r[(d['model'].replace('synthetic:',''),d['quant'],d['batch'],d['label'])].append(round(d['decode_tok_s'],1))
for k in sorted(r): print(k, r[k])
PY
