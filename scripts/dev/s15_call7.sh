#!/usr/bin/env bash
# Session 15, call 7 (one GPU): tensor-core decode attention variants (stages 1/2, copy before the
# PDL wait or not) against the scalar kernel, batch 1 and 64.
source scripts/device_env.sh >/dev/null
for v in "2 1" "2 0" "1 1" "1 0"; do
  set -- $v
  EFFITUNE_ATTN_MMA_STAGES=$1 EFFITUNE_ATTN_MMA_PREWAIT=$2 timeout 60 $C/effitune_cuda_tests --gtest_filter='CudaOps.PagedAttention:CudaBackend.*Bf16*' 2>&1 | grep -E "^\[  (PASSED|FAILED)" | sed "s/^/stages $1 prewait $2: /"
done
J=$OUT/variants.jsonl
for r in 1 2; do
  for v in "scalar 0 2 1" "s2p1 1 2 1" "s2p0 1 2 0" "s1p1 1 1 1" "s1p0 1 1 0"; do
    set -- $v
    export EFFITUNE_ATTN_DECODE_MMA=$2 EFFITUNE_ATTN_MMA_STAGES=$3 EFFITUNE_ATTN_MMA_PREWAIT=$4
    $C/bench_cuda models=llama-8b,llama-1b quants=bf16,q4_0 batches=1,64 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
    sed "s/^{/{\"label\":\"$1\",/" $OUT/t.jsonl >> $J
    $C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json --model synthetic:llama-8b-tp4-rank --batch 1,64 | sed "s/^{/{\"label\":\"$1\",/" >> $J
  done
done
unset EFFITUNE_ATTN_DECODE_MMA EFFITUNE_ATTN_MMA_STAGES EFFITUNE_ATTN_MMA_PREWAIT
python3 - $J <<'PY'
import json,sys,collections,statistics
r=collections.defaultdict(list)
for l in open(sys.argv[1]):
  d=json.loads(l)
  if d['decode_tok_s']>0: r[(d['model'].replace('synthetic:',''),d['quant'],d['batch'])].append((d['label'],d['decode_tok_s']))
labs=["scalar","s2p1","s2p0","s1p1","s1p0"]
print("shape".ljust(28)+"".join(x.rjust(10) for x in labs))
for k in sorted(r):
  m={x:statistics.median([v for l,v in r[k] if l==x]) for x in labs if any(l==x for l,_ in r[k])}
  print(str(k).ljust(28)+"".join(f"{m.get(x,0):10.1f}" for x in labs))
PY
