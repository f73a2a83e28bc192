#!/usr/bin/env bash
# Session 21, call 10 (two GPUs): the tensor-parallel and backend tests at the session's last engine
# (greedy TP=2 = TP=1 for 200 tokens on the task model and the 1B shape), after the decode-attention
# rule and merge changes.
source scripts/device_env.sh >/dev/null
nvidia-smi -L
timeout 400 "$C/effitune_cuda_tests" --gtest_filter='*TensorParallel*:CudaBackend.*:CudaOps.*' > "$OUT/tp_tests.log" 2>&1
echo "rc=$?"; grep -E "PASSED|FAILED|SKIPPED \]" "$OUT/tp_tests.log" | head
