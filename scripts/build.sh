#!/usr/bin/env bash
# Configures and builds one flavour of rlc: `scripts/build.sh` (release) or
# `scripts/build.sh asan` (AddressSanitizer + UBSan) into build/ or build-asan/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
case "$flavour" in
  release) dir="$here/build"; opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    dir="$here/build-asan"; opts=(-DCMAKE_BUILD_TYPE=Debug -DRLC_SANITIZE=ON) ;;
  *) echo "usage: scripts/build.sh [release|asan]" >&2; exit 2 ;;
esac
cmake -S "$here" -B "$dir" -DRLC_WERROR=ON "${opts[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
