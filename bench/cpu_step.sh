#!/usr/bin/env bash
# bench/cpu_step.sh — CPU time (user + sys) per step of a trainer on a shared machine, where
# wall time is not a figure: each command runs with a short and a long step count, and the
# difference of their CPU times over the difference of the counts is the step's cost, with
# loading and compilation cancelled out. Runs alternate between the commands (A B A B), reps
# times; prints per command the median and min-max of the per-step CPU ms and of the wall ms.
#
# usage: bench/cpu_step.sh [--reps N] [--short N] [--long N] NAME 'CMD {steps}' [NAME 'CMD' ...]
#   {steps} in CMD is replaced by the step count. The 1-minute load is printed before each round.
set -euo pipefail
reps=3 short=5 long=25
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift 2 ;;
    --short) short=$2; shift 2 ;;
    --long) long=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] && [ $(($# % 2)) = 0 ] || { echo "usage: bench/cpu_step.sh [--reps N] [--short N] [--long N] NAME 'CMD {steps}' ..." >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cpu_of() {  # cmd steps -> "cpu_seconds wall_seconds"
  local cmd=${1//\{steps\}/$2}
  /usr/bin/time -f "%U %S %e" -o "$tmp/t" bash -c "$cmd" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; exit 1; }
  awk '{printf "%.3f %.3f\n", $1 + $2, $3}' "$tmp/t"
}
for ((r = 1; r <= reps; r++)); do
  echo "round $r: load $(cut -d' ' -f1 /proc/loadavg)"
  args=("$@")
  for ((i = 0; i < ${#args[@]}; i += 2)); do
    name=${args[i]} cmd=${args[i+1]}
    read -r c1 w1 <<<"$(cpu_of "$cmd" $short)"
    read -r c2 w2 <<<"$(cpu_of "$cmd" $long)"
    awk -v n="$name" -v c1="$c1" -v c2="$c2" -v w1="$w1" -v w2="$w2" -v d=$((long - short)) \
      'BEGIN { printf "%s %.1f %.1f\n", n, 1000 * (c2 - c1) / d, 1000 * (w2 - w1) / d }' | tee -a "$tmp/all"
  done
done
echo "per step (median [min-max]) over $reps rounds, steps $long - $short:"
awk '{ cpu[$1] = cpu[$1] " " $2; wall[$1] = wall[$1] " " $3 }
     END { for (n in cpu) { print n, cpu[n], "|", wall[n] } }' "$tmp/all" |
while read -r line; do
  name=${line%% *}
  c=$(echo "${line#* }" | cut -d'|' -f1 | tr ' ' '\n' | grep . | sort -g)
  w=$(echo "$line" | cut -d'|' -f2 | tr ' ' '\n' | grep . | sort -g)
  med() { awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
  printf "%-12s cpu %8.1f ms [%s-%s]   wall %8.1f ms [%s-%s]\n" "$name" \
    "$(echo "$c" | med)" "$(echo "$c" | head -1)" "$(echo "$c" | tail -1)" \
    "$(echo "$w" | med)" "$(echo "$w" | head -1)" "$(echo "$w" | tail -1)"
done
