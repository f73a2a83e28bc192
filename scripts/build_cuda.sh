#!/usr/bin/env bash
# Builds the CUDA tests and bench here (sm_90a) and stages them for the device machine in .carry/cuda:
# binaries (gzipped: the carried tree is capped at 64 MiB; gpu_check.sh unpacks them), the
# non-system shared libraries ldd lists (not the CUDA ones: the device image has them), stories260K
# (../shared does not travel) and the commit id. Then: run scripts/gpu_check.sh there with carry
# [".carry/cuda"].
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build-cuda}
# (The top-level CMakeLists tells CMake 3.25 about nvcc 13's C++20 flag.)
cmake -S . -B "$B" -G Ninja -DEFFITUNE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a \
  >/dev/null
ninja -C "$B" -j"${JOBS:-2}" effitune effitune_cuda_tests bench_cuda bench_gemm bench_stream bench_attn
C=.carry/cuda
mkdir -p "$C/lib"
cp "$B/tests/effitune_cuda_tests" "$B/tools/bench_cuda" "$B/tools/bench_gemm" "$B/tools/bench_stream" \
  "$B/tools/bench_attn" "$B/cli/effitune" "$C/"
for bin in "$C/effitune_cuda_tests" "$C/bench_cuda" "$C/effitune"; do
  ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libstdc++*|libgcc_s*|ld-linux*|libpthread*|libdl.so*|librt.so*|libcu*|libnv*) ;;
      *) cp -L "$lib" "$C/lib/" ;;
    esac
  done
done
for bin in effitune effitune_cuda_tests bench_cuda bench_gemm bench_stream bench_attn; do gzip -f "$C/$bin"; done
cp ../shared/data/stories260K.bin "$C/"

rm -f "$C/task_model.gguf"  # the tracked task model travels with the tree; gpu_check.sh points the tests at it
git rev-parse --short HEAD > "$C/commit" 2>/dev/null || echo uncommitted > "$C/commit"
du -sh "$C"
