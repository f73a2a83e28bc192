#!/usr/bin/env bash
# Session 15, call 1 (one GPU): does a weight prefetch into L2 help the narrow 64-row products?
source scripts/device_env.sh
for p in 16 32 132; do
  echo "== prefetch=$p"
  $C/bench_gemm kinds=bf16 rows=64 split=2 prefetch=$p out=$OUT/gemm_prefetch_$p.jsonl
done
echo "== rows=32 prefetch=32"
$C/bench_gemm kinds=bf16 rows=32 prefetch=32 out=$OUT/gemm_prefetch_32_rows32.jsonl
B="$C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json"
for m in llama-8b-tp4-rank llama-8b; do $B --model synthetic:$m --batch 1,64 >> $OUT/engine.jsonl; done
python3 -c "
import json
for l in open('$OUT/engine.jsonl'):
  d=json.loads(l); print(d['model'], d['batch'], round(d['decode_tok_s'],1))"
