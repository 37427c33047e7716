#!/usr/bin/env bash
# The test command: set up, build the plain and the sanitizer flavour, run every test in both,
# the unit tests again under each OpenBLAS core type this CPU can run, and each fuzz harness
# briefly.
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

# OpenBLAS picks its kernels by core type, and the tests must hold under each (docs/runtime.md,
# Determinism). The release run above had the environment's choice; every other core type of
# Haswell, SkylakeX, Sandybridge and the library's own (unset) reruns the unit tests. OpenBLAS
# does not check that a forced type's instructions exist (it would die of SIGILL), so a type
# this CPU cannot run is skipped, with a note.
cpu_has() { grep -qw "$1" /proc/cpuinfo; }
runs_here() {
  case "$1" in
    haswell) cpu_has avx2 && cpu_has fma ;;
    skylakex) cpu_has avx512f && cpu_has avx512bw && cpu_has avx512dq && cpu_has avx512vl ;;
    sandybridge) cpu_has avx ;;
    *) true ;;
  esac
}
current=$(echo "${OPENBLAS_CORETYPE:-unset}" | tr '[:upper:]' '[:lower:]')
if [ "$(uname -m)" = x86_64 ]; then
  for core in Haswell SkylakeX Sandybridge unset; do
    lower=$(echo "$core" | tr '[:upper:]' '[:lower:]')
    [ "$lower" = "$current" ] && continue
    if ! runs_here "$lower"; then
      echo "== unit tests with OpenBLAS core type $core skipped: this CPU lacks its instructions"
      continue
    fi
    echo "== unit tests (release, OPENBLAS_CORETYPE=$core)"
    if [ "$core" = unset ]; then
      env -u OPENBLAS_CORETYPE ctest --test-dir "$here/build" --output-on-failure -j "$(nproc)" -LE e2e
    else
      OPENBLAS_CORETYPE=$core ctest --test-dir "$here/build" --output-on-failure -j "$(nproc)" -LE e2e
    fi
  done
fi

# libFuzzer on the front end, the data readers and the parameter-file reader: 30 s each with a
# fixed seed, so a run is repeatable (scripts/fuzz.sh SECONDS runs them longer, seeded at random).
echo "== fuzz"
RLC_FUZZ_SEED=1 "$here/scripts/fuzz.sh" 30
