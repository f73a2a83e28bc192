#!/usr/bin/env bash
# Session 21, call 9 (one GPU): the wide ring lengths at head_dim 64 (the 1B shape), end to end: the
# binary before (08a452e = ae83b96's engine, carried as effitune_base) against after, two runs
# alternating, 32 generated, at long contexts where the rule changes on the 1B shape, and the 8B shape
# (head_dim 128, unchanged) as a control; the op tests of the choice and the attention first.
set -uo pipefail
source scripts/device_env.sh >/dev/null
"$C/effitune_cuda_tests" --gtest_filter='CudaOps.*:CudaBackend.*' 2>&1 | tail -2
J=$OUT/hd64_ring_ab.jsonl BUDGET_S=400 bash scripts/dev/ab_binaries.sh "effitune_base effitune" \
  llama-1b:q4_0:1:8000 llama-1b:bf16:1:8000 llama-1b:bf16:1:16000 llama-1b:bf16:2:4150 llama-1b:q4_0:4:8000 \
  llama-8b:q4_0:1:8000
