#!/usr/bin/env bash
# Session 18, call 1 (one GPU, asked for nvidia-h200): 88d6b5a's review mends (Q4_0 through dq_magic, one
# launch_rows) on a GPU for the first time: the CUDA tests and memcheck, the table (BENCH_RUNS runs), and
# CUPTI kernel traces of 8B decode at batch 1 (bf16, q4_0): where a batch-1 step's time goes.
source scripts/device_env.sh >/dev/null
R=1; nvidia-smi -L | grep -q H200 && R=3  # the acceptance table wants 3 runs on an H200
BENCH_RUNS=$R bash scripts/gpu_check.sh all 2>&1 | tail -30
for q in bf16 q4_0; do
  EFFITUNE_CUDA_TRACE=$OUT/trace_b1_$q.txt timeout 120 $C/effitune bench --backend cuda --model synthetic:llama-8b \
    --quant $q --batch 1 --prompt 32 --gen 128 --repetitions 1 2>&1 | tail -2
done
cd $OUT && tar czf traces.tgz trace_b1_* && rm -f trace_b1_*
ls $OUT
