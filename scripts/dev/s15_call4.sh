#!/usr/bin/env bash
# Session 15, call 4 (4 GPUs): every CUDA test, TP=1/2/4 at batch 1/64 with the tensor-core decode
# attention (default) against EFFITUNE_ATTN_DECODE_MMA=0, the heuristic's TP=1 batch-64 case forced,
# and the 64 x 1,024-token prefill that failed (swiglu grid).
TP_RUNS=2 TP_STUDY=0 TP_DEGREES='1 2 4' TP_AB='EFFITUNE_ATTN_DECODE_MMA=0' bash scripts/gpu_check.sh tp 2>&1 | tail -25
source scripts/device_env.sh
B="$C/effitune bench --backend cuda --quant bf16 --prompt 32 --gen 32 --repetitions 3 --format json --model synthetic:llama-8b"
for run in 1 2; do for v in 0 1; do
  EFFITUNE_ATTN_DECODE_MMA=$v $B --batch 64 | sed "s/^{/{\"label\":\"tp1_b64_mma$v\",/" >> $OUT/tp1_mma_forced.jsonl
done; done
python3 -c "
import json
for l in open('$OUT/tp1_mma_forced.jsonl'): d=json.loads(l); print(d['label'], round(d['decode_tok_s'],1))"
$C/effitune bench --backend cuda --quant bf16 --prompt 1024 --gen 16 --repetitions 1 --format json --model synthetic:llama-8b --batch 64 > $OUT/prefill_64x1024.jsonl 2> $OUT/prefill_64x1024.err
echo "64x1024 rc=$?"; tail -2 $OUT/prefill_64x1024.err; python3 -c "
import json
for l in open('$OUT/prefill_64x1024.jsonl'): d=json.loads(l); print('prefill', round(d['prefill_tok_s']), 'decode', round(d['decode_tok_s']))"
