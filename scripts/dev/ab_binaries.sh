#!/usr/bin/env bash
# An A/B timing of two (or more) engine binaries carried in .carry/cuda (e.g. effitune_base, the build
# before a change, beside effitune): every shape with each binary in turn, RUNS runs, one JSON line per
# measurement labelled "<binary> p<prompt>" in $OUT/ab_binaries.jsonl (or $J), then the medians. Stops
# starting new runs after BUDGET_S seconds (a device call has 600). Run after scripts/device_env.sh:
#   RUNS=2 GEN=32 bash scripts/dev/ab_binaries.sh "effitune_base effitune" llama-8b:q4_0:1:8000 llama-8b:bf16:1:128
# A shape is model:quant:batch:prompt (a synthetic shape of `effitune bench --model synthetic:`).
set -uo pipefail
[[ $# -ge 2 ]] || { sed -n 2,7p "$0"; exit 2; }
[[ -n ${C:-} ]] || source "$(dirname "$0")/../device_env.sh" >/dev/null
bins=$1
shift
J=${J:-$OUT/ab_binaries.jsonl}
t0=$SECONDS
for r in $(seq 1 "${RUNS:-2}"); do
  for shape in "$@"; do
    IFS=: read -r m q b p <<< "$shape"
    for bin in $bins; do
      (( SECONDS - t0 > ${BUDGET_S:-480} )) && break 3
      timeout "${SHAPE_TIMEOUT:-60}" "$C/$bin" bench --backend cuda --quant "$q" --model "synthetic:$m" --batch "$b" \
        --prompt "$p" --gen "${GEN:-32}" --repetitions 1 --format json 2>/dev/null |
        sed "s/^{/{\"label\":\"$bin p$p\",/" >> "$J" || echo "ab_binaries: $shape with $bin failed" >&2
    done
  done
done
echo "runs: $(wc -l < "$J") in $((SECONDS - t0)) s"
python3 "$(dirname "$0")/ab_summary.py" --median "$J"
