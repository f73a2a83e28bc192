#!/usr/bin/env bash
# Session 21, call 5 (one GPU): the wide decode attention's ring variant (splits past 256 positions):
# its op tests against float64 and racecheck, then the kernel alone at long contexts, forced onto splits
# of 512, 1,024 and 2,048 against the backend's rule (chunk=0), 8 and 2 KV heads, batch 1, 2 and 4.
# (Rewritten after the call onto scripts/dev/ab_binaries.sh / attn_sweep_table.py: the same runs, order and labels.)
source scripts/device_env.sh >/dev/null
"$C/effitune_cuda_tests" --gtest_filter='CudaOps.PagedAttention:CudaOps.Decode*' 2>&1 | grep -E "Failure|Expected|nmse|PASSED|FAILED" | head -20
timeout 200 compute-sanitizer --tool racecheck --error-exitcode 7 "$C/effitune_cuda_tests" \
  --gtest_filter='CudaOps.PagedAttention' > "$OUT/racecheck.log" 2>&1
echo "racecheck rc=$?"; grep -E "SUMMARY|PASSED|FAILED" "$OUT/racecheck.log" | head -3
J=$OUT/attn_wide_ring.jsonl
for args in "chunk=0 wide=-1" "chunk=512 wide=1" "chunk=1024 wide=1" "chunk=2048 wide=1"; do
  timeout 150 "$C/bench_attn" kv=8,2 batch=1,2,4 ctx=4128,6144,8192,12288,16384,32768 $args launches=50 reps=5 >> "$J" \
    2>"$OUT/err.txt" || { echo "rc=$?"; tail -3 "$OUT/err.txt"; }
done
python3 scripts/dev/attn_sweep_table.py "$J"
