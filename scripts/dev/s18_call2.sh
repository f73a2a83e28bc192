#!/usr/bin/env bash
# Session 18, call 2 (one GPU): CUPTI kernel traces at batch 64 (8B bf16 TP=1, one TP=4 rank alone, 8B q4_0)
# and 1B bf16 at batch 1: where the step goes, kernel by kernel, on one clock.
source scripts/device_env.sh >/dev/null
tr() {  # name, then bench arguments
  local n=$1; shift
  EFFITUNE_CUDA_TRACE=$OUT/trace_$n.txt timeout 150 $C/effitune bench --backend cuda --prompt 32 --gen 64 --repetitions 1 "$@" 2>&1 | tail -1
}
tr b64_8b_bf16 --model synthetic:llama-8b --quant bf16 --batch 64
tr b64_tp4rank_bf16 --model synthetic:llama-8b-tp4-rank --quant bf16 --batch 64
tr b64_8b_q4_0 --model synthetic:llama-8b --quant q4_0 --batch 64
tr b1_1b_bf16 --model synthetic:llama-1b --quant bf16 --batch 1
cd $OUT && tar czf traces.tgz trace_* && rm -f trace_*
