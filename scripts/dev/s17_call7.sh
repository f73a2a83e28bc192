#!/usr/bin/env bash
# Session 17, call 7 (asked for nvidia-h200-x2): the final code. Every CUDA test on both GPUs (the
# quantized TP test runs the streaming GEMM, now on wgmma), memcheck; the issue-4 table on GPU 0
# (three runs); 8B bf16 TP = 1, 2 at batch 1 and 64 (two runs) and 8B q4_0 TP = 1, 2 at batch 64.
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
ROOT=$OUT
OUT=$ROOT/tests bash scripts/gpu_check.sh tests 2>&1 | tail -3; el tests
for run in 1 2 3; do
  OUT=$ROOT/table CUDA_VISIBLE_DEVICES=0 bash scripts/gpu_check.sh bench 2>&1 | grep summary
  mv "$ROOT/table/bench_cuda.jsonl" "$ROOT/table/table_run$run.jsonl"; el table run $run
done
cat "$ROOT"/table/table_run*.jsonl > "$ROOT/bench_cuda.jsonl"; rm -f "$ROOT"/table/table_run*.jsonl
OUT=$ROOT/tp TP_RUNS=2 TP_STUDY=0 TP_DEGREES='1 2' TP_TESTS='-*' TP_RANK_ALONE=0 \
  bash scripts/gpu_check.sh tp 2>&1 | grep "TP=" | tail -6; el tp
source scripts/device_env.sh >/dev/null
for tp in 1 2; do
  $C/effitune bench --backend cuda --quant q4_0 --prompt 32 --gen 32 --repetitions 3 --format json \
    --model synthetic:llama-8b --gpu-count $tp --batch 64 2>/dev/null | sed "s/^{/{\"label\":\"q4_tp$tp\",/" >> $ROOT/tp/tp_bench.jsonl
done
grep q4_tp $ROOT/tp/tp_bench.jsonl | python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l); print(r["label"], "batch", r["batch"], round(r["decode_tok_s"], 1), "tok/s")'
python3 - "$ROOT/bench_cuda.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
K = lambda r: (r["model"], r["quant"], r["batch"], r["gen_tokens"] > 0)
for k in sorted({K(r) for r in rows}):
    v = [r["decode_tok_s" if k[3] else "prefill_tok_s"] for r in rows if K(r) == k]
    print(k[:3], "decode" if k[3] else "prefill", f"{statistics.median(v):,.1f} [{min(v):,.1f}-{max(v):,.1f}] n={len(v)}", rows[0]["device"])
PY
