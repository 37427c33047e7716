#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz, clang-19 with ASan and UBSan, into build-fuzz/) and
# runs each for SECONDS (default 300) in turn: the front end, the data readers and the
# parameter-file reader (docs/testing.md, Fuzzing).
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     HARNESS: frontend idx csv npy text tokens safetensors
# Each harness grows its corpus in build-fuzz/corpus/NAME (kept between runs), seeded from
# tests/fuzz/corpus/NAME (and, for the front end, examples/, stdlib/ and tests/golden/). A crash,
# hang, leak or sanitizer report stops that harness: the input is saved as
# build-fuzz/artifacts/NAME-crash-... (or -timeout-, -leak-, -oom-) and the script exits 1 after
# the remaining harnesses ran. RLC_FUZZ_SEED=N fixes libFuzzer's random seed (the CI does).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-300}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(frontend idx csv npy text tokens safetensors)
case "$seconds" in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [HARNESS...]" >&2; exit 2 ;; esac

cc=${RLC_FUZZ_CC:-clang-19}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz: $cc not found; scripts/setup.sh installs it (Debian: clang-19 libclang-rt-19-dev)" >&2
  exit 1
fi
dir="$here/build-fuzz"
cmake -S "$here" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="${cc/clang/clang++}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRLC_FUZZ=ON -DRLC_WERROR=ON >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"

mkdir -p "$dir/artifacts"
failed=()
for h in "${harnesses[@]}"; do
  work="$dir/corpus/$h"
  mkdir -p "$work"
  seeds=("$here/tests/fuzz/corpus/$h")
  max_len=4096
  if [ "$h" = frontend ]; then
    seeds+=("$here/examples" "$here/stdlib" "$here/tests/golden")
    max_len=8192
  fi
  opts=(-max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len="$max_len"
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/$h-")
  [ -n "${RLC_FUZZ_SEED:-}" ] && opts+=(-seed="$RLC_FUZZ_SEED")
  echo "== fuzz $h (${seconds}s)"
  if ! (cd "$dir" && "$dir/tests/fuzz/fuzz_$h" "${opts[@]}" "$work" "${seeds[@]}" 2>"$dir/fuzz-$h.log"); then
    tail -n 60 "$dir/fuzz-$h.log"
    echo "fuzz: $h FAILED; the input is in $dir/artifacts/ (rerun: $dir/tests/fuzz/fuzz_$h FILE)"
    failed+=("$h")
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$dir/fuzz-$h.log" | tail -n 2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#harnesses[@]} harnesses ran ${seconds}s each without a fault"
