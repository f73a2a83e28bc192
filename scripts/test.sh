#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test (CUDA tests skip without a GPU),
# then fuzzes each parser for a bounded time under AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" -L 'unit|model|cuda' --timeout 900
if [ -x scripts/fuzz.sh ]; then
  bash scripts/fuzz.sh "${EFFITUNE_FUZZ_SECONDS:-15}"
fi
