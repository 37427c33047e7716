# lib.sh — what the shell tests share (POSIX sh passes no arguments to `.`):
#   scratch_tag=NAME; . "$(dirname "$0")/../lib.sh"
# It makes a scratch folder (removed at exit) and enters it, and defines
# `fail` (counts into $fails) and `expect`.
T=$(mktemp -d "${TMPDIR:-/tmp}/rlc-$scratch_tag.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect NAME STATUS PATTERN CMD...: CMD exits with STATUS and prints PATTERN
# (a fixed string) on stdout or stderr; PATTERN "" asserts an empty output.
expect() {
    name=$1 status=$2 pattern=$3
    shift 3
    "$@" > out 2>&1
    got=$?
    [ "$got" -eq "$status" ] || { fail "$name: exit status $got, not $status"; cat out; return; }
    if [ -z "$pattern" ]; then
        [ -s out ] && { fail "$name: expected no output, got:"; cat out; }
    else
        grep -qF -- "$pattern" out || { fail "$name: no '$pattern' in:"; cat out; }
    fi
}
