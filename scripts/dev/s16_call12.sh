#!/usr/bin/env bash
# Session 16, call 12 (one GPU): the README's GPU quickstart (experiments/gpu-quickstart.yaml: bf16 /
# q8_0 / q4_0, decoding, budgets, batch policy) end to end with this session's routing, and its report.
source scripts/device_env.sh >/dev/null
timeout 400 $C/effitune run experiments/gpu-quickstart.yaml --db $OUT/gpu.db 2>&1 | tail -15
$C/effitune report --db $OUT/gpu.db --out $OUT/gpu-report.html && $C/effitune report --db $OUT/gpu.db --format md --out $OUT/gpu-report.md
head -40 $OUT/gpu-report.md
