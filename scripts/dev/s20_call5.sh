#!/usr/bin/env bash
# Session 20, call 5 (one GPU): the embedding lookup's loads before its stores (dc4d24f) against the
# binary before it (0e33827, carried as effitune_base), three runs alternating, at the table's batch-1
# shapes; the backend and op tests first; then where a batch-1 step's host time goes
# (EFFITUNE_TP_PROFILE=1 prints the backend's host time per replayed decode step).
set -uo pipefail
source scripts/device_env.sh >/dev/null
"$C/effitune_cuda_tests" --gtest_filter='CudaBackend.*:CudaOps.*' 2>&1 | tail -3
J=$OUT/embed_ab.jsonl
for r in 1 2 3; do
  for bin in effitune_base effitune; do
    for shape in llama-1b:q4_0 llama-1b:bf16 llama-8b:q4_0 llama-8b:bf16; do
      IFS=: read -r m q <<< "$shape"
      timeout 100 "$C/$bin" bench --backend cuda --quant "$q" --model "synthetic:$m" --batch 1 --prompt 128 --gen 64 \
        --repetitions 1 --format json 2>/dev/null | sed "s/^{/{\"label\":\"$bin\",/" >> "$J"
    done
  done
done
python3 scripts/dev/ab_summary.py --median "$J"
for m in llama-1b llama-8b; do
  EFFITUNE_TP_PROFILE=1 timeout 100 "$C/effitune" bench --backend cuda --quant q4_0 --model synthetic:$m --batch 1 \
    --prompt 128 --gen 64 --repetitions 1 2>&1 | grep -i -A3 "host\|step" | head -12
done
