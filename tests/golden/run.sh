#!/usr/bin/env bash
# Golden tests: every *.rl here states what rlc must answer (README.md).
#   run.sh RLC [--update]    run from tests/golden; --update rewrites .ast/.ir/.grad/.diag
set -uo pipefail

rlc="" update=0
for arg in "$@"; do
  case "$arg" in
    --update) update=1 ;;
    *) rlc=$arg ;;
  esac
done
if [ -z "$rlc" ] || [ ! -x "$rlc" ]; then
  echo "usage: run.sh RLC [--update]   (RLC: the rlc binary; run from tests/golden)" >&2
  exit 2
fi

passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {  # NAME WHAT DIFF-TEXT
  failed=$((failed + 1))
  echo "FAIL $1: $2"
  [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/    /'
}

for src in *.rl; do
  [ -e "$src" ] || continue
  name=${src%.rl}
  ok=1 checked=0

  if [ -e "$name.ast" ]; then
    checked=1
    "$rlc" dump "$src" --ast >"$tmp/out" 2>"$tmp/err"
    if [ $update = 1 ]; then
      cp "$tmp/out" "$name.ast"
    elif ! d=$(diff -u "$name.ast" "$tmp/out"); then
      fail "$name" "dump --ast differs from $name.ast" "$d$(cat "$tmp/err")"
      ok=0
    fi
  fi

  for kind in ir grad; do  # NAME.ir / NAME.grad: `rlc dump --ir / --grad`
    [ -e "$name.$kind" ] || continue
    checked=1
    "$rlc" dump "$src" --$kind >"$tmp/out" 2>"$tmp/err"
    if [ $update = 1 ]; then
      cp "$tmp/out" "$name.$kind"
    elif ! d=$(diff -u "$name.$kind" "$tmp/out"); then
      fail "$name" "dump --$kind differs from $name.$kind" "$d$(cat "$tmp/err")"
      ok=0
    fi
  done

  "$rlc" check "$src" >/dev/null 2>"$tmp/check"
  status=$?

  if grep -q '^[[:space:]]*# expect error ' "$src"; then
    checked=1
    sed -n 's/^[[:space:]]*# expect error \([0-9]*:[0-9]*\): \(.*\)$/'"$src"':\1: error: \2/p' "$src" >"$tmp/want"
    grep -E "^$src:[0-9]+:[0-9]+: error: " "$tmp/check" >"$tmp/got"
    if [ $status != 1 ]; then
      fail "$name" "rlc check exited $status, expected 1" "$(cat "$tmp/check")"
      ok=0
    elif ! d=$(diff -u "$tmp/want" "$tmp/got"); then
      fail "$name" "errors differ from the '# expect error' lines" "$d"
      ok=0
    fi
  fi

  # errors that only lowering can see (sizes known once functions are inlined)
  if grep -q '^[[:space:]]*# expect lower error ' "$src"; then
    checked=1
    "$rlc" dump "$src" --ir >/dev/null 2>"$tmp/lower"
    lstatus=$?
    sed -n 's/^[[:space:]]*# expect lower error \([0-9]*:[0-9]*\): \(.*\)$/'"$src"':\1: error: \2/p' "$src" >"$tmp/want"
    grep -E "^$src:[0-9]+:[0-9]+: error: " "$tmp/lower" >"$tmp/got"
    if [ $lstatus != 1 ]; then
      fail "$name" "rlc dump --ir exited $lstatus, expected 1" "$(cat "$tmp/lower")"
      ok=0
    elif ! d=$(diff -u "$tmp/want" "$tmp/got"); then
      fail "$name" "errors differ from the '# expect lower error' lines" "$d"
      ok=0
    fi
  fi

  if [ -e "$name.diag" ]; then
    checked=1
    if [ $update = 1 ]; then
      cp "$tmp/check" "$name.diag"
    elif ! d=$(diff -u "$name.diag" "$tmp/check"); then
      fail "$name" "rlc check output differs from $name.diag" "$d"
      ok=0
    fi
  fi

  if [ $checked = 0 ] && [ $status != 0 ]; then
    fail "$name" "expected to check clean, rlc check exited $status" "$(cat "$tmp/check")"
    ok=0
  fi

  [ $ok = 1 ] && passed=$((passed + 1))
done

echo "$passed passed, $failed failed"
[ $failed = 0 ]
