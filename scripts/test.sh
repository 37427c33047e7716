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
  # intercept_tls_get_addr=0: GCC 12's sanitizer runtime can take a dynamic TLS block (of a
  # dlopen'd library, as oneDNN is) whose address lies 16 bytes into a page for one with glibc's
  # pre-2.25 header, reads a bogus range from before it, and LeakSanitizer's exit-time tracer dies scanning it
  # ("Tracer caught signal 11", a test failed after every assertion passed). Without the
  # interceptor those blocks are ordinary heap blocks reached from the thread's DTV, still scanned.
  ASAN_OPTIONS=detect_leaks=1:intercept_tls_get_addr=0 ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" "${skip[@]}"
done

# The products run on oneDNN (runtime/gemm.c), which picks its kernels by instruction set, or,
# with RLC_GEMM=openblas, on OpenBLAS, which picks them by core type; the tests must hold under
# each (docs/runtime.md, Determinism). The runs above had oneDNN's choice for this CPU. The unit
# tests are run again on oneDNN held to AVX2 (the machines without AVX-512), and on OpenBLAS with
# each core type of Haswell, SkylakeX, Sandybridge and the library's own (unset). OpenBLAS does
# not check that a forced type's instructions exist (it would die of SIGILL), so a type this CPU
# cannot run is skipped, with a note.
cpu_has() { grep -qw "$1" /proc/cpuinfo; }
runs_here() {
  case "$1" in
    haswell) cpu_has avx2 && cpu_has fma ;;
    skylakex) cpu_has avx512f && cpu_has avx512bw && cpu_has avx512dq && cpu_has avx512vl ;;
    sandybridge) cpu_has avx ;;
    *) true ;;
  esac
}
if [ "$(uname -m)" = x86_64 ]; then
  if cpu_has avx512f && runs_here haswell; then
    echo "== unit tests (release, oneDNN held to AVX2)"
    ONEDNN_MAX_CPU_ISA=AVX2 ctest --test-dir "$here/build" --output-on-failure -j "$(nproc)" -LE e2e
  fi
  for core in Haswell SkylakeX Sandybridge unset; do
    lower=$(echo "$core" | tr '[:upper:]' '[:lower:]')
    if ! runs_here "$lower"; then
      echo "== unit tests with OpenBLAS core type $core skipped: this CPU lacks its instructions"
      continue
    fi
    echo "== unit tests (release, RLC_GEMM=openblas, OPENBLAS_CORETYPE=$core)"
    if [ "$core" = unset ]; then
      env -u OPENBLAS_CORETYPE RLC_GEMM=openblas ctest --test-dir "$here/build" --output-on-failure -j "$(nproc)" -LE e2e
    else
      RLC_GEMM=openblas OPENBLAS_CORETYPE=$core ctest --test-dir "$here/build" --output-on-failure -j "$(nproc)" -LE e2e
    fi
  done
fi

# libFuzzer on the front end, the data readers and the parameter-file reader: 30 s each with a
# fixed seed, so a run is repeatable (scripts/fuzz.sh SECONDS runs them longer, seeded at random).
echo "== fuzz"
RLC_FUZZ_SEED=1 "$here/scripts/fuzz.sh" 30
