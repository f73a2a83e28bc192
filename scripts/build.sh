#!/usr/bin/env bash
# Configures and builds effitune into build/ (CUDA code too when nvcc is found, for sm_90a).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so clones share one cache.
export CCACHE_BASEDIR="$PWD"
bash scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release ${EFFITUNE_CMAKE_ARGS:-} >/dev/null
# Arguments, if any, name the targets to build (default: everything).
if (($#)); then
  cmake --build build -j"$(nproc)" --target "$@"
else
  cmake --build build -j"$(nproc)"
fi
