#!/usr/bin/env bash
# Session 17, call 3 (asked for nvidia-h200): the issue-4 table at 6c8dd06 (engine code = b8cfbb3's),
# up to three runs while time allows, the CUDA tests first (one GPU).
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
ROOT=$OUT
OUT=$ROOT/tests bash scripts/gpu_check.sh tests 2>&1 | tail -3; el tests
for run in 1 2 3; do
  [ $(( $(date +%s) - T0 )) -lt 330 ] || break
  OUT=$ROOT/table bash scripts/gpu_check.sh bench 2>&1 | grep -E "summary" | tail -2
  mv "$ROOT/table/bench_cuda.jsonl" "$ROOT/table/table_run$run.jsonl"; el table run $run
done
cat "$ROOT"/table/table_run*.jsonl > "$ROOT/bench_cuda.jsonl"; rm -f "$ROOT"/table/table_run*.jsonl
python3 - "$ROOT/bench_cuda.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
K = lambda r: (r["model"], r["quant"], r["batch"], r["gen_tokens"] > 0)
keys = sorted({K(r) for r in rows})
for k in keys:
    v = [r["decode_tok_s" if k[3] else "prefill_tok_s"] for r in rows if K(r) == k]
    print(k[:3], "decode" if k[3] else "prefill", f"{statistics.median(v):,.1f} [{min(v):,.1f}-{max(v):,.1f}] n={len(v)}", rows[0]["device"])
PY
