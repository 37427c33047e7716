#!/usr/bin/env bash
# bench/products_alone.sh — the time a step's matrix products take alone (in the library rt_gemm uses).
#     bench/products_alone.sh SHAPES STEPS THREADS [SGEMM_ALONE]
# SHAPES is the table sgemm_shim.c writes ($SGEMM_LOG: order transA transB M N K calls seconds)
# for a run of STEPS steps; each shape is run alone by sgemm_alone (built from sgemm_alone.c
# when not given: best of 5 rounds of 0.3 s of CPU time, so that other jobs on the machine
# count little; at THREADS > 1 that is the CPU time of all threads) and the step's products cost
# sum over shapes of calls / STEPS * 2 M N K / (its GFLOP/s). Prints one line per shape
# (calls a step, GFLOP/s alone, ms a step alone, ms a step inside the run) and the totals.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: bench/products_alone.sh SHAPES STEPS THREADS [SGEMM_ALONE]" >&2; exit 2; }
shapes=$1 steps=$2 threads=$3 alone=${4:-}
if [ -z "$alone" ]; then
  alone=$(mktemp); trap 'rm -f "$alone"' EXIT
  gcc -O2 -std=c11 "$(dirname "$0")/sgemm_alone.c" -o "$alone" -lopenblas -ldnnl -lgomp
fi
printf "%-4s %-4s %-4s %6s %6s %6s %8s %8s %10s %10s\n" order ta tb M N K "calls/st" GFLOP/s "alone ms" "in-run ms (wall)"
while read -r o ta tb m n k calls secs; do
  g=$(OPENBLAS_NUM_THREADS=$threads "$alone" "$o" "$ta" "$tb" "$m" "$n" "$k" "$threads" cpu | cut -d= -f2)
  awk -v o="$o" -v ta="$ta" -v tb="$tb" -v m="$m" -v n="$n" -v k="$k" -v c="$calls" -v s="$secs" \
      -v st="$steps" -v g="$g" 'BEGIN {
        per = c / st; ms = per * 2 * m * n * k / (g * 1e9) * 1000
        printf "%-4s %-4s %-4s %6d %6d %6d %8g %8.1f %10.2f %10.2f\n", o, ta, tb, m, n, k, per, g, ms, 1000 * s / st }'
done <"$shapes" | tee /dev/stderr | awk '{ a += $9; r += $10 } END { printf "total: %.1f ms a step alone, %.1f ms a step inside the run\n", a, r }'
