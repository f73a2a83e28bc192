#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test (CUDA tests skip without a GPU),
# then fuzzes each parser for a bounded time under AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" -L 'unit|model|cuda' --timeout 900
# Slow tests that are acceptance checks: the 10,000-request server soak, the report in Chromium, and
# `effitune run` SIGKILLed at random moments and resumed (about 1 minute).
# (EngineTarget.HttpServerAgreesWithInProcess is left out: its capacity intervals need a quiet machine.)
ctest --test-dir build --output-on-failure -L slow -R 'ServerSoak|ReportBrowser|RunKillResume' --timeout 900
bash scripts/fuzz.sh "${EFFITUNE_FUZZ_SECONDS:-15}"
# The malformed-model-file tests and the HTTP server's tests again, under AddressSanitizer + UBSan
# (in the fuzz build): the server's connections end on other threads than they start (~20 s).
cmake --build build-fuzz --target effitune_engine_tests -j"$(nproc)"
./build-fuzz/tests/effitune_engine_tests --gtest_brief=1 --gtest_filter='*Malformed*:*Llama2c*:*Gguf*:Server*'
echo "effitune: all tests passed"
