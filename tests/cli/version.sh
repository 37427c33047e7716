#!/bin/sh
# `rlc --version` and `rlc version` print one line, rlc's and LLVM's versions (those
# the object cache's keys carry), and exit 0; an argument after it is a usage error.
# usage: version.sh RLC
set -u
RLC=$1
scratch_tag=version; . "$(dirname "$0")/../lib.sh"

expect "--version" 0 "rlc " "$RLC" --version
cp out dashed
grep -qE '^rlc [0-9]+\.[0-9]+ \(LLVM [0-9]+\.[0-9]+\.[0-9]+\)$' dashed ||
    { fail "--version: not 'rlc X.Y (LLVM A.B.C)'"; cat dashed; }
[ "$(wc -l < dashed)" -eq 1 ] || { fail "--version: more than one line"; cat dashed; }
expect "version" 0 "rlc " "$RLC" version
cmp -s out dashed || { fail "version and --version differ"; cat out dashed; }
expect "version with an argument" 2 "version takes no argument, not 'x'" "$RLC" version x
expect "listed in the help" 0 "version" "$RLC" --help
[ "$fails" -eq 0 ] && echo "all version cases pass"
[ "$fails" -eq 0 ]
