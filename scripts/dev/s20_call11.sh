#!/usr/bin/env bash
# Session 20, call 11 (one GPU): racecheck and synccheck of the decode attention at the session's
# last engine (the wide variant's shared-memory tiles, the new K/V row written straight into them by
# other warps' threads, the merge area reused after the tiles).
source scripts/device_env.sh >/dev/null
for tool in racecheck synccheck; do
  timeout 250 compute-sanitizer --tool $tool --error-exitcode 7 "$C/effitune_cuda_tests" \
    --gtest_filter='CudaOps.PagedAttention' > "$OUT/$tool.log" 2>&1
  echo "$tool rc=$?"; grep -E "SUMMARY|PASSED|FAILED" "$OUT/$tool.log" | head -3
done
