#!/usr/bin/env bash
# Session 21, call 13 (one GPU): call 12's prefill A/B again with one generated token (`effitune bench`
# asks for at least one; call 12's runs all stopped there), the prefill tok/s of each run summarized.
set -uo pipefail
source scripts/device_env.sh >/dev/null
J=$OUT/prefill_ab.jsonl RUNS=3 GEN=1 BUDGET_S=330 bash scripts/dev/ab_binaries.sh "effitune_base effitune" \
  llama-8b:bf16:1:512 llama-8b:bf16:4:512 llama-8b:bf16:1:4150 llama-8b:bf16:1:16000 llama-8b:q4_0:1:16000 \
  llama-8b-tp4-rank:bf16:1:16000 llama-1b:bf16:1:512 llama-1b:bf16:1:8000 > /dev/null
python3 - "$OUT/prefill_ab.jsonl" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    runs[(d["model"].replace("synthetic:", ""), d["quant"], d["batch"], d["label"])].append(d["prefill_tok_s"])
for k, v in sorted(runs.items()):
    print(k, f"{statistics.median(v):,.0f} [{min(v):,.0f}-{max(v):,.0f}]")
PY
