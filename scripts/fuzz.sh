#!/usr/bin/env bash
# Builds the clang/libFuzzer/ASan+UBSan build in build-fuzz and runs every *_fuzz target for
# SECONDS each (default 20) over a scratch copy of its corpus. Exits non-zero on the first crash;
# the crashing input is left as crash-* in the scratch directory (add it to the target's corpus).
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so clones share one cache.
export CCACHE_BASEDIR="$PWD"
seconds="${1:-20}"
build_dir=build-fuzz
# EFFITUNE_FUZZ adds -fsanitize=fuzzer-no-link to every library: without it libFuzzer sees coverage of
# the small *_fuzz.cpp files only and degenerates to blind mutation (gguf_fuzz: 200 vs 2,400 edges).
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEFFITUNE_FUZZ=ON -DEFFITUNE_TESTS=ON \
  -DEFFITUNE_NATIVE=OFF -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang >/dev/null
targets=()
for src in tests/fuzz/*_fuzz.cpp; do
  targets+=("$(basename "$src" .cpp)")
done
cmake --build "$build_dir" --target "${targets[@]}" -j"${FUZZ_JOBS:-$(nproc)}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/effitune-fuzz.XXXXXX")"
status=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t/corpus"
  if [[ -d "tests/fuzz/corpus/$t" ]]; then cp -r "tests/fuzz/corpus/$t/." "$scratch/$t/corpus/"; fi
  echo "== $t: ${seconds}s"
  if ! (cd "$scratch/$t" && "$OLDPWD/$build_dir/tests/$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
          -timeout=10 -print_final_stats=1 corpus >"$scratch/$t/log.txt" 2>&1); then
    echo "!! $t crashed; see $scratch/$t/log.txt and the crash-* file beside it" >&2
    tail -40 "$scratch/$t/log.txt" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$scratch/$t/log.txt" | tail -2
  fi
done
[[ $status -eq 0 ]] && rm -rf "$scratch"
exit $status
