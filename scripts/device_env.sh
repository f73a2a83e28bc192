#!/usr/bin/env bash
# Sourced on the device machine from the repo root: unpacks .carry/cuda (scripts/build_cuda.sh) and sets
# what its binaries need (shared libraries, the task model, NCCL with NVLink multicast off). Anything
# run there outside gpu_check.sh, `effitune bench` say, should source this first:
#   source scripts/device_env.sh && $C/effitune bench --backend cuda ...
C=$PWD/.carry/cuda
for f in "$C"/*.gz; do [ -f "$f" ] && gunzip -f "$f" && chmod +x "${f%.gz}"; done  # build_cuda.sh gzips the binaries
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
CUBLAS_DIR=$(dirname "$(find /usr/local/cuda* /usr/lib /opt -name 'libcublas.so.13' 2>/dev/null | head -1)" 2>/dev/null)
export LD_LIBRARY_PATH=$C/lib:/usr/local/cuda/lib64:${CUBLAS_DIR:-.}:${LD_LIBRARY_PATH:-}
export EFFITUNE_TASK_MODEL=$PWD/experiments/support-desk/model.gguf
export EFFITUNE_COMMIT=$(cat "$C/commit" 2>/dev/null || echo unknown)
# NCCL (tensor parallelism) is loaded at run time; the image has it under CUDA or in a Python wheel.
# NVLink multicast stays off in every process (the engine forces it too).
export NCCL_NVLS_ENABLE=0
export EFFITUNE_NCCL_LIBRARY=${EFFITUNE_NCCL_LIBRARY:-$(find /usr/local /usr/lib /opt -name 'libnccl.so.2' 2>/dev/null | head -1)}
echo "nccl: ${EFFITUNE_NCCL_LIBRARY:-not found}"
# The tests look for ../shared/data beside the checkout they were built from (/work/main).
mkdir -p /work/shared/data && cp -n "$C/stories260K.bin" /work/shared/data/ 2>/dev/null
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/device.txt"

