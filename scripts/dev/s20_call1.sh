#!/usr/bin/env bash
# Session 20, call 1 (one GPU): the tensor-core decode kernel's wide variant (8 warps, every tile
# copied before the PDL wait, one split of 256 and no merge launch below one (KV head, sequence) pair
# an SM at 65-256 positions) and the new K/V row written straight to shared memory. Tests, memcheck
# and the table at HEAD (wide on), the kernel alone, then the A/B EFFITUNE_ATTN_WIDE 0 -> 1 at the
# table's shapes (128-token prompts, 64 generated: 129-192 positions), two runs, alternating.
set -uo pipefail
source scripts/device_env.sh
BENCH_RUNS=3 bash scripts/gpu_check.sh all
{
  A=$C/bench_attn
  "$A" kv=8,2 batch=1 ctx=160,192 chunk=64 wide=0
  "$A" kv=8,2 batch=1 ctx=160,192 chunk=256 wide=0,1
  "$A" kv=8,2 batch=16,64 ctx=160 chunk=256 wide=0,1
} > "$OUT/bench_attn_wide.jsonl" 2>&1
RUNS=2 GEN=64 bash scripts/dev/ab_bench.sh EFFITUNE_ATTN_WIDE "0 1" llama-8b:q4_0:1:128 llama-8b:bf16:1:128 \
  llama-1b:bf16:1:128 llama-1b:q4_0:1:128 llama-8b:bf16:16:128 llama-1b:bf16:16:128 \
  llama-8b-tp4-rank:bf16:64:128 llama-8b-tp4-rank:bf16:1:128 2>&1 | tail -20
