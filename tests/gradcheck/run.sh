#!/usr/bin/env bash
# Gradient checks: `rlc gradcheck` on every program given (default: every *.rl here) must exit 0,
# check at least one parameter, and leave without a gradient exactly the params a
# `# expect no gradient: NAME...` line names (README.md).
#   run.sh RLC [FILE.rl...]
set -uo pipefail

rlc=${1:-}
if [ -z "$rlc" ] || [ ! -x "$rlc" ]; then
  echo "usage: run.sh RLC [FILE.rl...]   (RLC: the rlc binary)" >&2
  exit 2
fi
shift
[ $# -gt 0 ] || set -- *.rl

passed=0 failed=0
for src in "$@"; do
  out=$("$rlc" gradcheck "$src" 2>&1)
  status=$?
  want=$(sed -n 's/^# expect no gradient: //p' "$src" | tr ' ' '\n' | sed '/^$/d' | sort)
  got=$(printf '%s\n' "$out" | sed -n 's/^ *none \([^:]*\):.*/\1/p' | sort)
  why=""
  if [ $status != 0 ]; then
    why="rlc gradcheck exited $status"
  elif ! grep -q '^ *ok ' <<<"$out"; then
    why="no parameter was checked"
  elif [ "$want" != "$got" ]; then
    why="params without a gradient: [$(echo $got)], expected [$(echo $want)]"
  fi
  if [ -n "$why" ]; then
    failed=$((failed + 1))
    echo "FAIL $src: $why"
    printf '%s\n' "$out" | sed 's/^/    /'
  else
    passed=$((passed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ $failed = 0 ]
