#!/usr/bin/env bash
# Session 16, call 6 (a multi-GPU kind): every CUDA test on all GPUs (greedy TP=N = TP=1; the TP
# quantized test now on the streaming GEMM through EFFITUNE_QUANT_CUBLAS=0; session 15's two-shot
# switch mend, never run on several GPUs), 8B bf16 TP = 1, 2, 4 at batch 1 and 64 (2 runs, all-reduce
# timing, one rank alone), then 8B q4_0 TP = 1, 2, 4 at batch 64 with the quantized routing rule
# against streaming everything (EFFITUNE_QUANT_CUBLAS=0 / default).
TP_RUNS=2 TP_STUDY=0 bash scripts/gpu_check.sh tp 2>&1 | tail -16
source scripts/device_env.sh >/dev/null
NG=$(nvidia-smi -L | wc -l)
for v in 0 1; do for tp in 1 2 4; do
  [ $tp -le $NG ] && EFFITUNE_QUANT_CUBLAS=$v $C/effitune bench --backend cuda --quant q4_0 --prompt 32 --gen 32 --repetitions 3 \
    --format json --model synthetic:llama-8b --gpu-count $tp --batch 64 2>/dev/null | sed "s/^{/{\"label\":\"rule$v\",/" >> $OUT/tp_q4.jsonl
done; done
python3 -c "
import json
for l in open('$OUT/tp_q4.jsonl'):
  d=json.loads(l); print('q4_0', d['label'], 'TP', d['tp'], 'batch', d['batch'], round(d['decode_tok_s'],1))
"
