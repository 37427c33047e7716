#!/usr/bin/env bash
# The figures of docs/performance.md: per-step time and sgemm share of the issue's
# models at 1 and 2 threads, with OpenBLAS as the environment has it and with
# OPENBLAS_CORETYPE=SkylakeX (each on rt_gemm's library: oneDNN unless RLC_GEMM=openblas), then
# compile time per example.
#   tests/perf/run.sh [BUILD_DIR] [STEPS]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$here/build}/tests/perf_step
steps=${2:-200}
export RL_DATA_PATH="$here/data:/work/main/data${RL_DATA_PATH:+:$RL_DATA_PATH}"
echo "# $(date -u '+%F %T') load: $(cut -d' ' -f1-3 /proc/loadavg), nproc $(nproc)"
for core in env SkylakeX; do
  for t in 1 2; do
    run() { if [ "$core" = env ]; then "$bin" "$@"; else OPENBLAS_CORETYPE=$core "$bin" "$@"; fi | tail -1; }
    run "$here/tests/perf/ae.rl" --batch 32 --threads "$t" --steps "$steps"
    run "$here/tests/perf/ae.rl" --batch 256 --threads "$t" --steps "$steps"
    run "$here/examples/simclr.rl" --stage contrast --batch 256 --threads "$t" --steps "$((steps / 4))"
    run "$here/examples/word2vec.rl" --stage sgns --threads "$t" --steps "$((steps * 10))"
  done
done
for f in "$here"/examples/*.rl; do "$bin" "$f" --steps 1 --batch 2 | head -1; done
