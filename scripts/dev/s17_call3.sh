#!/usr/bin/env bash
# Session 17, call 3 (asked for nvidia-h200): the issue-4 table at 6c8dd06 (engine code = b8cfbb3's),
# up to three runs while time allows, the CUDA tests first (one GPU).
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
ROOT=$OUT
OUT=$ROOT/tests bash scripts/gpu_check.sh tests 2>&1 | tail -3; el tests
for run in 1 2 3; do
  [ $(( $(date +%s) - T0 )) -lt 330 ] || break
  OUT=$ROOT/table bash scripts/gpu_check.sh bench 2>&1 | grep -E "summary" | tail -2
  mv "$ROOT/table/bench_cuda.jsonl" "$ROOT/table/bench_cuda_run$run.jsonl"; el table run $run
done
cat "$ROOT"/table/bench_cuda_run*.jsonl > "$ROOT/bench_cuda.jsonl"; rm -f "$ROOT"/table/bench_cuda_run*.jsonl
python3 - "$ROOT/bench_cuda.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = sorted({(r["model"], r["quant"], r["batch"]) for r in rows})
for k in keys:
    d = [r["decode_tok_s"] for r in rows if (r["model"], r["quant"], r["batch"]) == k]
    p = [r.get("prefill_tok_s", 0) for r in rows if (r["model"], r["quant"], r["batch"]) == k]
    print(k, f"decode {statistics.median(d):,.1f} [{min(d):,.1f}-{max(d):,.1f}] prefill {statistics.median(p):,.0f}", rows[0]["device"])
PY
