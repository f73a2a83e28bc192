#!/usr/bin/env bash
# Session 20, call 12 (one GPU): greedy tokens copied back into pinned memory (the pageable copy was
# staged by the driver on every decode step's critical path), the binary before (291ac48, carried as
# effitune_base) against after, three runs alternating, batch 1 at 128-token prompts; the backend
# tests first.
set -uo pipefail
source scripts/device_env.sh >/dev/null
"$C/effitune_cuda_tests" --gtest_filter='CudaBackend.*:CudaSampling.*' 2>&1 | tail -3
J=$OUT/pinned_tokens_ab.jsonl
for r in 1 2 3; do
  for bin in effitune_base effitune; do
    for shape in llama-1b:q4_0:1 llama-1b:bf16:1 llama-8b:q4_0:1 llama-1b:q4_0:16; do
      IFS=: read -r m q b <<< "$shape"
      timeout 100 "$C/$bin" bench --backend cuda --quant "$q" --model "synthetic:$m" --batch "$b" --prompt 128 --gen 64 \
        --repetitions 1 --format json 2>/dev/null | sed "s/^{/{\"label\":\"$bin\",/" >> "$J"
    done
  done
done
python3 scripts/dev/ab_summary.py --median "$J"
