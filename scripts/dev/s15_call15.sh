#!/usr/bin/env bash
# Session 15, call 15 (one GPU): the tensor-core decode attention with one stage and Q read from
# shared memory (<= 128 registers: 4 CTAs an SM at head_dim 128) against the default variants.
source scripts/device_env.sh >/dev/null
EFFITUNE_ATTN_MMA_QSMEM=1 timeout 150 $C/effitune_cuda_tests --gtest_filter='CudaOps.PagedAttention:CudaBackend.*:CudaModels.*' 2>&1 | grep -E "^\[  (PASSED|FAILED)|Failure" | head
for v in 0 1; do EFFITUNE_ATTN_MMA_QSMEM=$v $C/bench_attn kv=8,2 batch=1,64 ctx=64,512,2048 mma=1 | sed "s/^{/{\"qsmem\":$v,/" >> $OUT/attn.jsonl; done
J=$OUT/qsmem.jsonl
for r in 1 2; do for v in 0 1; do
  export EFFITUNE_ATTN_MMA_QSMEM=$v
  $C/bench_cuda models=llama-8b,llama-1b quants=bf16,q4_0 batches=1,64 prefill=0 out=$OUT/t.jsonl > /dev/null 2>&1
  sed "s/^{/{\"label\":\"qsmem$v\",/" $OUT/t.jsonl >> $J
  $C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json --model synthetic:llama-8b-tp4-rank --batch 1,64 | sed "s/^{/{\"label\":\"qsmem$v\",/" >> $J
  $C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json --model synthetic:llama-8b --batch 64 | sed "s/^{/{\"label\":\"qsmem$v\",/" >> $J
done; done
unset EFFITUNE_ATTN_MMA_QSMEM
EFFITUNE_ATTN_DECODE_MMA=0 $C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json --model synthetic:llama-8b --batch 64 | sed 's/^{/{"label":"scalar",/' >> $J
python3 - $J $OUT/attn.jsonl <<'PY'
import json,sys,collections
r=collections.defaultdict(list)
for l in open(sys.argv[1]):
  d=json.loads(l)
  if d['decode_tok_s']>0: r[(d['model'].replace('synthetic:',''),d['quant'],d['batch'],d['prompt_tokens'],d['label'])].append(round(d['decode_tok_s'],1))
for k in sorted(r): print(k, r[k])
for l in open(sys.argv[2]):
  d=json.loads(l); print('attn qsmem', d['qsmem'], d['kv_heads'], d['batch'], d['ctx'], d['us_per_launch'])
PY
