#!/usr/bin/env bash
# Session 21, call 7 (one GPU): the session's attention changes together (the merge with the splits side
# by side, the wide variant's ring lengths at long contexts): every CUDA test and memcheck, then end to
# end the session's first binary (bef5591, carried as effitune_base) against the last, two runs
# alternating, 32 generated, at long contexts where the rules changed and a 128-token control.
set -uo pipefail
source scripts/device_env.sh >/dev/null
bash scripts/gpu_check.sh tests 2>&1 | tail -3
A=$OUT/attn_long_ab.jsonl
t0=$SECONDS
for r in 1 2; do
  for shape in llama-8b:q4_0:1:4150 llama-8b:q4_0:1:8000 llama-8b:bf16:1:8000 llama-8b:q4_0:1:16000 \
               llama-8b-tp4-rank:bf16:1:16000 llama-8b:bf16:2:8000 llama-8b-tp4-rank:bf16:4:8000 \
               llama-1b:q4_0:1:8000 llama-8b:q4_0:1:128; do
    IFS=: read -r m q b p <<< "$shape"
    for bin in effitune_base effitune; do
      (( SECONDS - t0 > 470 )) && break 3
      timeout 60 "$C/$bin" bench --backend cuda --quant "$q" --model "synthetic:$m" --batch "$b" --prompt "$p" --gen 32 \
        --repetitions 1 --format json 2>/dev/null | sed "s/^{/{\"label\":\"$bin p$p\",/" >> "$A"
    done
  done
done
echo "runs: $(wc -l < "$A") in $((SECONDS - t0)) s"
python3 scripts/dev/ab_summary.py --median "$A"
