#!/usr/bin/env bash
# Session 20, call 8 (one GPU): the tensor-core decode kernel's pipeline for splits above 64 positions,
# four stages (three rounds of tiles copied before the PDL wait, three loading while one is used)
# against two (EFFITUNE_ATTN_STAGES=2, one ahead), same binary: the CUDA op and backend tests, the
# kernel alone, then end to end at batch 16-64 and 128-2,048-token prompts, two runs alternating.
set -uo pipefail
source scripts/device_env.sh >/dev/null
"$C/effitune_cuda_tests" --gtest_filter='CudaOps.*:CudaBackend.*' 2>&1 | tail -3
for st in 2 4; do
  { EFFITUNE_ATTN_STAGES=$st "$C/bench_attn" kv=2 batch=64 ctx=160,544,1056,2080 reps=7
    EFFITUNE_ATTN_STAGES=$st "$C/bench_attn" kv=8 batch=16,64 ctx=160,1056,2080 reps=7; } | sed "s/^{/{\"stages\":$st,/"
done > "$OUT/bench_attn_stages.jsonl"
python3 -c "
import json
for l in open('$OUT/bench_attn_stages.jsonl'):
    d = json.loads(l); print(d['stages'], d['kv_heads'], d['batch'], d['ctx'], d['chunk'], d['us_per_launch'])"
RUNS=2 GEN=32 bash scripts/dev/ab_bench.sh EFFITUNE_ATTN_STAGES "2 4" llama-8b:bf16:64:1024 llama-8b-tp4-rank:bf16:64:1024 \
  llama-8b:bf16:16:2048 llama-1b:bf16:64:1024 llama-8b:bf16:64:128 llama-8b-tp4-rank:bf16:64:2048 2>&1 | tail -14
