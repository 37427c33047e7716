#!/usr/bin/env bash
# The test command: set up, build the plain and the sanitizer flavour, run every test in both.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
export RL_DATA_PATH="$here/data${RL_DATA_PATH:+:$RL_DATA_PATH}"
for flavour in release asan; do
  echo "== build ($flavour)"
  "$here/scripts/build.sh" "$flavour"
  dir="$here/build"; [ "$flavour" = asan ] && dir="$here/build-asan"
  echo "== test ($flavour)"
  # the sanitizer flavour skips the e2e examples: minutes of training, ten times slower there
  skip=(); [ "$flavour" = asan ] && skip=(-LE e2e)
  ASAN_OPTIONS=detect_leaks=1 ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" "${skip[@]}"
done
