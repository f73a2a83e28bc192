#!/usr/bin/env bash
# The main job: builds effitune and runs it on a shipped model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh effitune
echo "== greedy generation on stories260K (a real trained tiny Llama), 64 tokens from BOS"
./build/cli/effitune generate --model ../shared/data/stories260K.bin --prompt-ids 1 --max-new-tokens 64 --format json
