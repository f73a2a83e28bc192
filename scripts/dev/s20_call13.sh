#!/usr/bin/env bash
# Session 20, call 13 (two GPUs): the tensor-parallel tests at c229601 (greedy tokens through pinned
# memory on every rank).
source scripts/device_env.sh >/dev/null
nvidia-smi -L
timeout 400 "$C/effitune_cuda_tests" --gtest_filter='*TensorParallel*:CudaBackend.*' > "$OUT/tp_tests.log" 2>&1
echo "rc=$?"; grep -E "PASSED|FAILED|SKIPPED" "$OUT/tp_tests.log" | head
