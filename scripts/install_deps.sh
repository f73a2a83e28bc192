#!/usr/bin/env bash
# Installs the Debian packages effitune builds and tests with; skips what is already there.
set -euo pipefail
pkgs=(cmake ninja-build g++ git pkg-config ccache
      libboost-dev libboost-program-options-dev libboost-system-dev
      libyaml-cpp-dev libsqlite3-dev libspdlog-dev nlohmann-json3-dev
      libgtest-dev libgmock-dev libbenchmark-dev libpcre2-dev
      clang libclang-rt-14-dev chromium python3-jsonschema ${EFFITUNE_EXTRA_PKGS:-})
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "effitune: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
