#!/usr/bin/env bash
# Runs a gtest filter of the CUDA tests once with each value of an engine switch, before an A/B call
# times it: `source scripts/dev/ab_tests.sh VAR FILTER VALUE...` (after scripts/device_env.sh). Each
# run's log goes to $OUT/tests_VAR_VALUE.log; a failing run stops the call (exit 1) so that no timing
# of a wrong path is recorded.
ab_var=$1 ab_filter=$2
shift 2
for ab_v in "$@"; do
  env "$ab_var=$ab_v" timeout 200 "$C/effitune_cuda_tests" --gtest_filter="$ab_filter" 2>&1 | tee "$OUT/tests_${ab_var}_$ab_v.log" |
    grep -E "^\[  (FAILED|PASSED)|Failure|Expected|Which|actual|NMSE|nmse|differ" | head -20
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "tests failed ($ab_var=$ab_v): no timings"; exit 1; }
done
