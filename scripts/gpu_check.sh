#!/usr/bin/env bash
# One device call: the CUDA tests, compute-sanitizer memcheck over them, and the benchmark table.
# Runs on the device machine from the repo root with the prebuilt .carry/cuda (scripts/build_cuda.sh).
# Writes bench_cuda.jsonl, device.txt and gpu_check_logs.tgz (the logs) under $OUT; prints a short
# summary last.
#   scripts/gpu_check.sh [tests|tp-tests|bench|tp|tp-study|all]   (tp-tests: the tensor-parallel tests only, no
#   memcheck, for the multi-GPU kinds; BENCH_ARGS passes key=value options to bench_cuda, e.g.
#   BENCH_ARGS='models=llama-8b quants=bf16 batches=1,64 tp=1,2'; BENCH_RUNS=3 repeats the table)
#   tp: issues 5 and 6 in one call on a multi-GPU kind: every CUDA test (greedy TP=N = TP=1 on all the
#   GPUs), then `effitune bench` 8B bf16 at batch 1 and 64 for TP = 1, 2, 4, 8 (those the machine has),
#   three runs alternating, once more with --collective-timing, one TP rank alone, and the
#   experiments/gpu-tp-8b.yaml study up to the GPU count with its report (tp_bench.jsonl,
#   gpu_tp_report.{md,json,html}); TP_RUNS=3, TP_STUDY=0 skips the study, TP_BATCHES=1,64 the batches,
#   TP_AB='VAR=value ...' also runs every degree with those variables in every run (A/B of an engine switch),
#   TP_TESTS a gtest filter for the tests, TP_RANK_ALONE=0 skips the rank-alone rows, TP_DEGREES='1 4'
#   the degrees benched (those the machine has), TP_PROMPT the prompt length (32)
#   tp-study: only the study and its report, after `bench --collective-timing` and (unless TP_PROFILE=0)
#   EFFITUNE_TP_PROFILE's breakdown of the exchanges at batch 1 and 64 for TP = 2, 4, 8 (tp_profile.txt)
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
MODE=${1:-all}
NG=$(nvidia-smi -L | wc -l)
# `effitune bench` as the tp modes run it: the 8B shape's decode with 32-token prompts and 32 new tokens.
# TP_PROMPT sets the prompt length (32 by default, as sessions 5-18 measured; longer contexts weigh the
# attention, which TP divides, against the weights and exchanges).
BENCH="$C/effitune bench --backend cuda --quant bf16 --prompt ${TP_PROMPT:-32} --gen 32 --repetitions 3"

# The experiments/gpu-tp-8b.yaml study up to this machine's GPU count (the file says 4), and its report.
tp_study() {
  [[ $NG -ge 2 ]] || return 0
  sed "s/{name: gpu_count, type: int, lo: 1, hi: [0-9]*}/{name: gpu_count, type: int, lo: 1, hi: $NG}/; s/max_trials: [0-9]*/max_trials: $NG/" \
    experiments/gpu-tp-8b.yaml > experiments/gpu-tp-8b.device.yaml
  timeout 500 "$C/effitune" run experiments/gpu-tp-8b.device.yaml --db "$OUT/gpu_tp_8b.db" > "$OUT/tp_study.log" 2>&1
  tail -8 "$OUT/tp_study.log"
  for f in md json html; do "$C/effitune" report --db "$OUT/gpu_tp_8b.db" --format $f --out "$OUT/gpu_tp_report.$f"; done
  grep -A2 "What more GPUs" "$OUT/gpu_tp_report.md" | tail -1
  rm -f experiments/gpu-tp-8b.device.yaml  # the study database stays in $OUT: a report can be made again from it
}

tests_rc=-1 mc_rc=-1 bench_rc=-1
if [[ $MODE == tests || $MODE == all ]]; then
  timeout 240 "$C/effitune_cuda_tests" 2>&1 | tee "$OUT/cuda_tests.log" | grep -E "^\[  (FAILED|PASSED|  OK)|stories|task model|Failure|Expected|Which|actual|NMSE|error" | head -60
  tests_rc=${PIPESTATUS[0]}
  timeout 240 compute-sanitizer --tool memcheck --error-exitcode 7 "$C/effitune_cuda_tests" \
    --gtest_filter='-*Bf16AgreesWithF32*:*Stories260kGreedy*:*TaskModel*:*TensorParallel*' >"$OUT/memcheck.log" 2>&1
  mc_rc=$?
  grep -E "ERROR SUMMARY|PASSED|FAILED" "$OUT/memcheck.log" | tail -4
fi
if [[ $MODE == tp-tests ]]; then
  timeout 300 "$C/effitune_cuda_tests" --gtest_filter='*TensorParallel*' 2>&1 | tee "$OUT/cuda_tp_tests.log" |
    grep -E "^\[  (FAILED|PASSED|  OK)|TP=|Failure|Expected|Which|actual" | head -60
  tests_rc=${PIPESTATUS[0]}
fi
if [[ $MODE == tp ]]; then
  timeout 300 "$C/effitune_cuda_tests" --gtest_filter="${TP_TESTS:-*}" > "$OUT/cuda_tests.log" 2>&1
  tests_rc=$?
  grep -E "^\[  (FAILED|PASSED)|tests ran" "$OUT/cuda_tests.log" | tail -4
  B0="$BENCH --format json"
  B="$B0 --model synthetic:llama-8b"
  J=$OUT/tp_bench.jsonl
  label() { sed "s/^{/{\"label\":\"$1\",/" >> "$J"; }
  TB=${TP_BATCHES:-1,64}
  bench_rc=0  # 1 when any `effitune bench` below fails (degrees above the GPU count are skipped, not failures)
  for run in $(seq 1 "${TP_RUNS:-3}"); do
    for tp in ${TP_DEGREES:-1 2 4 8}; do
      [ "$tp" -le "$NG" ] || continue
      $B --gpu-count $tp --batch "$TB" 2>>"$OUT/tp_bench.log" | label "tp${tp}_run$run" || bench_rc=1
      if [[ -n ${TP_AB:-} ]]; then
        env $TP_AB $B --gpu-count $tp --batch "$TB" 2>>"$OUT/tp_bench.log" | label "tp${tp}_ab_run$run" || bench_rc=1
      fi
    done
  done
  for tp in ${TP_DEGREES:-2 4 8}; do
    [[ $tp -ge 2 && $tp -le $NG ]] || continue
    $B --gpu-count $tp --batch "$TB" --collective-timing 2>>"$OUT/tp_bench.log" | label "tp${tp}_timed" || bench_rc=1
  done
  # One rank's share alone on one GPU: what TP=N would reach with free communication.
  for tp in $([[ ${TP_RANK_ALONE:-1} != 0 ]] && echo 2 4); do
    [ "$tp" -le "$NG" ] || continue
    $B0 --model synthetic:llama-8b-tp$tp-rank --batch 64 2>>"$OUT/tp_bench.log" | label "tp${tp}_rank_alone" || bench_rc=1
  done
  python3 - "$J" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for b in sorted({r["batch"] for r in rows}):
    for tp in (1, 2, 4, 8):
        for kind in ("run", "ab_run"):
            v = [r["decode_tok_s"] for r in rows if r["label"].startswith(f"tp{tp}_{kind}") and r["batch"] == b]
            if v:
                med[(tp, b, kind)] = (statistics.median(v), min(v), max(v))
for (tp, b, kind), (m, lo, hi) in sorted(med.items()):
    base = med.get((1, b, kind), med.get((1, b, "run"), (m,)))[0]  # TP_AB rows against TP=1 with TP_AB
    t = [r for r in rows if r["label"] == f"tp{tp}_timed" and r["batch"] == b]
    ar = f", all-reduce {t[0]['collective_ms_per_step']:.3f} ms/step ({100 * t[0]['collective_share_of_decode']:.1f}%)" if t and kind == "run" else ""
    ab = " (TP_AB)" if kind == "ab_run" else ""
    print(f"8B bf16 TP={tp} batch {b}{ab}: {m:,.1f} tok/s [{lo:,.1f}-{hi:,.1f}] = {m / base:.2f}x TP=1{ar}")
for r in rows:
    if r["label"].endswith("rank_alone"):
        print(f"{r['label']}: {r['decode_tok_s']:,.1f} tok/s = {r['decode_tok_s'] / med[(1, 64, 'run')][0]:.2f}x TP=1 batch 64")
PY
  [[ ${TP_STUDY:-1} != 0 ]] && tp_study
fi
if [[ $MODE == tp-study ]]; then
  for tp in 2 4 8; do
    [[ $tp -le $NG ]] && $BENCH --model synthetic:llama-8b --gpu-count $tp --batch 1,64 --collective-timing --format json 2>/dev/null |
      python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l); r["pct"] = 100 * r["collective_share_of_decode"]
    print("TP={tp} batch {batch}: decode {decode_tok_s:,.1f} tok/s, all-reduce {collective_ms_per_step:.3f} ms/step ({pct:.1f}%) synthetic".format(**r))' |
      tee -a "$OUT/tp_profile.txt"
    [[ ${TP_PROFILE:-1} == 0 ]] && continue
    for b in 1 64; do
      [ "$tp" -le "$NG" ] && EFFITUNE_TP_PROFILE=1 $BENCH --model synthetic:llama-8b --gpu-count $tp --batch $b 2>&1 |
        grep -E "profile, rank|synthetic:llama" | sed "s/^/TP=$tp batch $b: /" >> "$OUT/tp_profile.txt"
    done
  done
  grep -E "rank 0|synthetic" "$OUT/tp_profile.txt" | cut -c1-400
  tp_study
fi
if [[ $MODE == bench || $MODE == all ]]; then
  # BENCH_RUNS repeats the whole table (medians and spreads come from the repeats).
  for run in $(seq 1 "${BENCH_RUNS:-1}"); do
    timeout 300 "$C/bench_cuda" out="$OUT/bench_cuda_run$run.jsonl" ${BENCH_ARGS:-} 2>&1 | tee -a "$OUT/bench.log" | tail -30
    bench_rc=${PIPESTATUS[0]}
  done
  cat "$OUT"/bench_cuda_run*.jsonl > "$OUT/bench_cuda.jsonl"
  rm -f "$OUT"/bench_cuda_run*.jsonl
fi
# The device tool returns only a few files per call: keep the table and the device line as files and
# pack the logs into one archive.
logs=$(cd "$OUT" && ls -- *.log 2>/dev/null)
if [[ -n $logs ]]; then
  (cd "$OUT" && tar czf gpu_check_logs.tgz $logs && rm -f $logs)
fi
echo "summary: tests rc=$tests_rc memcheck rc=$mc_rc bench rc=$bench_rc commit=$EFFITUNE_COMMIT (logs in gpu_check_logs.tgz)"
