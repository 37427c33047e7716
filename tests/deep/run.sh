#!/bin/sh
# Deep models: programs with many parameter tensors (a 14-layer encoder, 44
# tensors in one stage, with AdamW's moments 132 in its file), several stages
# that share components, and `--stage` runs. Each saved file is read back (by an
# eval stage, and its header checked for every tensor name) and compared byte for
# byte across the ways of producing it: the whole run, stage by stage, twice, and
# a trainer from `rlc build`. Data is made here, so it runs in seconds.
# usage: run.sh RLC
set -u
RLC=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/rlc-deep-test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# The JSON header of a safetensors file (8-byte little-endian length first).
header() {
    n=$(od -An -t u4 -N4 "$1" | tr -d ' ')
    dd if="$1" bs=1 skip=8 count="$n" 2>/dev/null
}
# expect_tensors FILE COUNT PATTERN: the header names COUNT tensors matching PATTERN.
expect_tensors() {
    got=$(header "$1" | grep -o "\"$3\":{" | wc -l)
    [ "$got" -eq "$2" ] || fail "$1: $got tensors match $3, not $2"
}

cd "$T" || exit 1
awk 'BEGIN { srand(11); print "a,b,c,d,e,f,y";
             for (i = 0; i < 96; i++) {
                 s = 0; for (k = 0; k < 6; k++) { v[k] = rand() * 2 - 1; s += v[k] }
                 printf "%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", v[0], v[1], v[2], v[3], v[4], v[5], s / 6 } }' \
    > pts.csv
{
    echo 'use std.nn'
    printf 'dataset pts {\n    x: [6] = csv("xs.csv", columns = 6)\n    y: [1] = csv("ys.csv", columns = 1)\n}\n'
    printf 'encoder enc(x: [B, 6]) -> [B, 8] {\n    h0 = tanh(dense(x, 8))\n'
    i=1
    while [ $i -lt 14 ]; do printf '    h%d = tanh(dense(h%d, 8))\n' $i $((i - 1)); i=$((i + 1)); done
    printf '    return h13\n}\n'
    printf 'decoder dec(z: [B, 8]) -> [B, 6] {\n    g0 = tanh(dense(z, 8))\n'
    i=1
    while [ $i -lt 5 ]; do printf '    g%d = tanh(dense(g%d, 8))\n' $i $((i - 1)); i=$((i + 1)); done
    printf '    return dense(g4, 6)\n}\n'
    printf 'decoder head(z: [B, 8]) -> [B, 1] = dense(tanh(dense(z, 4)), 1)\n'
    cat <<'RL'
train pre {
    data:      pts
    batch:     16
    epochs:    2
    optimizer: adam(lr = 0.01)
    save:      "pre.rlw"
    minimize mean((dec(enc(x)) - x) ^ 2)
}
train tune {
    data:      pts
    batch:     16
    epochs:    2
    optimizer: sgd(lr = 0.05, momentum = 0.9)
    load:      "pre.rlw"
    freeze:    [enc]
    save:      "tune.rlw"
    minimize mean((head(enc(x)) - y) ^ 2)
}
train both {
    data:      pts
    batch:     32
    steps:     5
    optimizer: adamw(lr = 0.001)
    save:      "both.rlw"
    minimize mean((dec(enc(x)) - x) ^ 2) + mean((head(enc(x)) - y) ^ 2)
}
eval test {
    data:  pts
    batch: 48
    load:  "both.rlw"
    report err = mean((head(enc(x)) - y) ^ 2)
}
RL
} > deep.rl
cut -d, -f1-6 pts.csv > xs.csv
cut -d, -f7 pts.csv > ys.csv

"$RLC" run deep.rl --threads 1 > whole.out 2> whole.err || { fail "whole run"; cat whole.err; }
for f in pre tune both; do [ -s $f.rlw ] || fail "$f.rlw not written"; cp $f.rlw whole-$f.rlw 2>/dev/null; done

# Every tensor is in each header under its own name: 28 enc + 12 dec = 40 params
# and 2 Adam moments each in pre; tune keeps the frozen enc (28) and trains head
# (4, with momentum); both trains all 44 with AdamW.
expect_tensors pre.rlw 40 '[a-z]*\.dense[0-9]*\.[wb]'
expect_tensors pre.rlw 40 '__opt__\.m\.[a-z]*\.dense[0-9]*\.[wb]'
expect_tensors pre.rlw 40 '__opt__\.v\.[a-z]*\.dense[0-9]*\.[wb]'
expect_tensors pre.rlw 28 'enc\.dense[0-9]*\.[wb]'
expect_tensors tune.rlw 32 '[a-z]*\.dense[0-9]*\.[wb]'
expect_tensors tune.rlw 4 '__opt__\.mom\.head\.dense[0-9]*\.[wb]'
expect_tensors both.rlw 44 '[a-z]*\.dense[0-9]*\.[wb]'
expect_tensors both.rlw 88 '__opt__\.[mv]\.[a-z]*\.dense[0-9]*\.[wb]'
header both.rlw | grep -q '"stage":"both"' || fail "both.rlw: no stage in its metadata"

# Read back: the eval stage alone loads both.rlw and reports what the whole run did.
grep '^test ' whole.out > whole.test || fail "no test line in the whole run"
"$RLC" run deep.rl --stage test --threads 1 > alone.out 2>&1 || { fail "--stage test"; cat alone.out; }
[ "$(grep '^test ' whole.out | sed 's/(.*//')" = "$(grep '^test ' alone.out | sed 's/(.*//')" ] ||
    fail "test after loading both.rlw differs: $(cat whole.test) / $(grep '^test ' alone.out)"

# Stage by stage: pre, then tune (which loads pre.rlw, as the whole run did), give
# the same files; and a second whole run gives the same bytes again.
rm -f pre.rlw tune.rlw both.rlw
for s in pre tune; do
    "$RLC" run deep.rl --stage $s --threads 1 --quiet > /dev/null 2> err || { fail "--stage $s"; cat err; }
    cmp -s $s.rlw whole-$s.rlw || fail "--stage $s wrote other bytes than the whole run"
done
"$RLC" run deep.rl --threads 1 --quiet > /dev/null 2> err || { fail "second whole run"; cat err; }
for f in pre tune both; do cmp -s $f.rlw whole-$f.rlw || fail "second run: $f.rlw differs"; done

# A trainer from rlc build writes the same files.
mkdir built
"$RLC" build deep.rl -o built/trainer --quiet 2> err || { fail "rlc build"; cat err; }
if [ -x built/trainer ]; then
    rm -f pre.rlw tune.rlw both.rlw
    built/trainer --threads 1 --quiet > /dev/null 2> err || { fail "trainer run"; cat err; }
    for f in pre tune both; do cmp -s $f.rlw whole-$f.rlw || fail "trainer: $f.rlw differs from rlc run's"; done
fi

[ "$fails" -eq 0 ] && echo "deep: all passed"
exit "$fails"
