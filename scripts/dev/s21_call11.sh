#!/usr/bin/env bash
# Session 21, call 11 (one GPU): the README's GPU quickstart (experiments/gpu-quickstart.yaml) end to end
# with the session's last engine (the decode-attention changes), and its report: session 17's call 11 again.
exec bash "$(dirname "$0")/s17_call11.sh"
