#!/usr/bin/env bash
# The main job: builds effitune, runs the quickstart tuning experiment on the CPU engine with the
# shipped support-desk task model, and writes the recommendation report (HTML, Markdown, JSON).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh effitune
mkdir -p out
rm -f out/quickstart.db out/quickstart.db-wal out/quickstart.db-shm
./build/cli/effitune run experiments/quickstart.yaml --db out/quickstart.db
for f in html md json; do
  ./build/cli/effitune report --db out/quickstart.db --format "$f" --out "out/quickstart-report.$f"
done
echo
echo "effitune: report written to out/quickstart-report.html (also .md and .json)"
head -40 out/quickstart-report.md
