#!/usr/bin/env bash
# Writes random-weight Llama GGUF files of the benchmark shape (bench-134m) in f16, q8_0 and q4_0.
#   scripts/make_bench_models.sh [OUT_DIR] [BUILD_DIR]   (defaults: out/models, build)
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir="${1:-out/models}"
build_dir="${2:-build}"
if [[ ! -f "$build_dir/build.ninja" && ! -f "$build_dir/Makefile" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build_dir" --target make_random_gguf -j"$(nproc)"
mkdir -p "$out_dir"
for type in f16 q8_0 q4_0; do
  "$build_dir/tools/make_random_gguf" --shape bench-134m --type "$type" --seed 1 --out "$out_dir/bench-134m-$type.gguf"
done
