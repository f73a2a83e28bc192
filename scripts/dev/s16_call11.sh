#!/usr/bin/env bash
# Session 16, call 11 (one GPU): call 10's CUDA tests again after the matmul test learned that Q4_0
# leaves the GEMV at 5 rows (it had compared 8 rows of bf16 activations against an int8 reference).
bash scripts/gpu_check.sh tests 2>&1 | tail -8
