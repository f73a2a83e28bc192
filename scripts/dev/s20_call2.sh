#!/usr/bin/env bash
# Session 20, call 2 (one GPU): the quantized GEMV staging its activation rows in shared memory by
# cp.async before quantizing them (the down projection's K = 14,336 / 8,192 at batch 1-2), A/B
# EFFITUNE_GEMV_STAGE 0 -> 1 at the table's shapes, three runs alternating; the matmul and attention
# tests first; then CUPTI traces of 8B q4_0 and bf16 batch 1 at HEAD (where a layer goes now).
set -uo pipefail
source scripts/device_env.sh >/dev/null
"$C/effitune_cuda_tests" --gtest_filter='CudaOps.*' 2>&1 | tail -5
RUNS=3 GEN=64 bash scripts/dev/ab_bench.sh EFFITUNE_GEMV_STAGE "0 1" llama-8b:q4_0:1:128 llama-8b:q8_0:1:128 \
  llama-1b:q4_0:1:128 llama-1b:q8_0:1:128 llama-8b:q4_0:2:128 2>&1 | tail -12
tr() {  # name, then bench arguments
  local n=$1; shift
  EFFITUNE_CUDA_TRACE=$OUT/trace_$n.txt timeout 150 $C/effitune bench --backend cuda --prompt 128 --gen 32 --repetitions 1 "$@" 2>&1 | tail -1
}
tr b1_q4_0 --model synthetic:llama-8b --quant q4_0 --batch 1
tr b1_bf16 --model synthetic:llama-8b --quant bf16 --batch 1
cd $OUT && tar czf traces.tgz trace_* && rm -f trace_*
