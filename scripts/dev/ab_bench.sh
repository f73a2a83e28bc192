#!/usr/bin/env bash
# An A/B timing of an engine switch on the device, the loop sessions 16-18 wrote into each call's
# script: every shape with each value of VAR, alternating values within a run, RUNS runs, one JSON line
# per measurement labelled "p<prompt>_<VAR's last word><value>" in $OUT/ab_<var>.jsonl, then the medians.
# Run after scripts/device_env.sh (it needs $C and $OUT):
#   RUNS=2 GEN=32 bash scripts/dev/ab_bench.sh EFFITUNE_ATTN_CHUNK "64 256" llama-8b:bf16:1:1024 llama-8b-tp4-rank:bf16:64:2048
# A shape is model:quant:batch:prompt (the model a synthetic shape of `effitune bench --model synthetic:`).
set -uo pipefail
[[ $# -ge 3 ]] || { sed -n 2,7p "$0"; exit 2; }
# Run as its own process, it does not see a caller's unexported $C: set up as gpu_check.sh does.
[[ -n ${C:-} ]] || source "$(dirname "$0")/../device_env.sh" >/dev/null
var=$1 values=$2
shift 2
tag=$(echo "${var##*_}" | tr 'A-Z' 'a-z')
J=$OUT/ab_$(echo "$var" | tr 'A-Z' 'a-z').jsonl
for r in $(seq 1 "${RUNS:-2}"); do
  for v in $values; do
    for shape in "$@"; do
      IFS=: read -r m q b p <<< "$shape"
      env "$var=$v" timeout "${SHAPE_TIMEOUT:-100}" "$C/effitune" bench --backend cuda --quant "$q" --model "synthetic:$m" \
        --batch "$b" --prompt "$p" --gen "${GEN:-32}" --repetitions 1 --format json 2>/dev/null |
        sed "s/^{/{\"label\":\"p${p}_$tag$v\",/" >> "$J" || echo "ab_bench: $shape with $var=$v failed" >&2
    done
  done
done
python3 "$(dirname "$0")/ab_summary.py" --median "$J"
