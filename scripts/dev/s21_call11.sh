#!/usr/bin/env bash
# Session 21, call 11 (one GPU): the README's GPU quickstart (experiments/gpu-quickstart.yaml) end to end
# with the session's last engine (the decode-attention changes), and its report.
source scripts/device_env.sh >/dev/null
timeout 400 $C/effitune run experiments/gpu-quickstart.yaml --db $OUT/gpu.db 2>&1 | tail -8
$C/effitune report --db $OUT/gpu.db --out $OUT/gpu-report.html && $C/effitune report --db $OUT/gpu.db --format md --out $OUT/gpu-report.md
head -24 $OUT/gpu-report.md
