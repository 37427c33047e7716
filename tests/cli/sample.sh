#!/bin/sh
# `sample` (docs/language.md, Extensions): a next-word model trained on a text where every word has
# one successor writes that text back (greedy, and with top_k 1), dropout off while sampling; drawn
# samples are the same for a seed at 1 and 2 threads, in the interpreter and in a trainer from
# `rlc build`, and change with the seed; a prompt word outside the vocabulary is named; a byte-level
# model prints its bytes without spaces.
# usage: sample.sh RLC
set -u
RLC=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/rlc-sample.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir "$T/words" "$T/bytes"
awk 'BEGIN { for (i = 0; i < 40; i++) print "the cat sat on a mat" }' > "$T/words/a.txt"
awk 'BEGIN { for (i = 0; i < 40; i++) printf "abcd"; print "" }' > "$T/bytes/a.txt"
cat > "$T/lm.rl" <<'RL'
use std.nn
use std.loss

dataset lm = sequences(text("words/", lowercase = true), length = 7, stride = 1)

encoder model(x: i32[B, T]) -> [B, T, lm.vocab] {
    return dense(dropout(embedding(x, lm.vocab, 16), 0.5), lm.vocab)
}

train greedy {
    data:          lm
    batch:         16
    epochs:        30
    optimizer:     adam(lr = 0.05)
    sample:        logits
    prompt:        "The"
    sample_tokens: 11
    sample_count:  2
    temperature:   0
    logits = model(ids[:, 0:6])
    minimize cross_entropy(logits, ids[:, 1:7])
}

eval top1 {
    data:          lm
    sample:        logits
    prompt:        "a zebra on"
    sample_tokens: 5
    sample_count:  1
    top_k:         1
    logits = model(ids[:, 0:6])
    report xent = cross_entropy(logits, ids[:, 1:7])
}

eval drawn {
    data:          lm
    sample:        logits
    prompt:        "the cat"
    sample_tokens: 12
    sample_count:  4
    temperature:   5
    logits = model(ids[:, 0:6])
    report xent = cross_entropy(logits, ids[:, 1:7])
}
RL
cd "$T" || exit 1
"$RLC" run lm.rl --threads 2 > out.txt 2>&1 || { cat out.txt; fail "rlc run"; }
want="the | cat sat on a mat the cat sat on a mat"
[ "$(cat runs/greedy/samples.txt)" = "$want
$want" ] || { cat runs/greedy/samples.txt; fail "greedy samples are not the training text"; }
[ "$(cat runs/top1/samples.txt)" = "a <unk> on | a mat the cat sat" ] || { cat runs/top1/samples.txt; fail "top_k 1"; }
grep -qx 'top1: "zebra" is not in the vocabulary: the model reads <unk>' out.txt || { cat out.txt; fail "unknown prompt word"; }
grep -q '^drawn  4: the cat | ' out.txt || { cat out.txt; fail "samples are printed"; }
cp runs/drawn/samples.txt drawn2.txt
[ "$(sort -u drawn2.txt | wc -l)" -gt 1 ] || fail "temperature 5 drew the same sample four times"
"$RLC" run lm.rl --quiet --threads 1 > /dev/null 2>&1 || fail "rlc run at 1 thread"
cmp -s runs/drawn/samples.txt drawn2.txt || fail "samples differ between 1 and 2 threads"
"$RLC" run lm.rl --quiet --interp > /dev/null 2>&1 || fail "rlc run --interp"
cmp -s runs/drawn/samples.txt drawn2.txt || fail "the interpreter draws other samples"
"$RLC" run lm.rl --quiet --seed 9 > /dev/null 2>&1 || fail "rlc run --seed 9"
cmp -s runs/drawn/samples.txt drawn2.txt && fail "another seed draws the same samples"
"$RLC" build lm.rl -o lm > /dev/null 2>&1 || fail "rlc build"
rm -rf runs
./lm --quiet --threads 2 > /dev/null 2>&1 || fail "the built trainer"
cmp -s runs/drawn/samples.txt drawn2.txt || fail "the built trainer draws other samples"
[ "$(cat runs/greedy/samples.txt)" = "$want
$want" ] || fail "the built trainer's greedy samples"

cat > bytes.rl <<'RL'
use std.nn
use std.loss

dataset chars = sequences(text("bytes/", unit = "char"), length = 9, stride = 1)

train fit {
    data:          chars
    batch:         16
    epochs:        20
    optimizer:     adam(lr = 0.05)
    sample:        logits
    prompt:        "ab"
    sample_tokens: 6
    sample_count:  1
    temperature:   0
    param e: [chars.vocab, 8] = normal(0, 0.1)
    logits = dense(e[ids[:, 0:8]], chars.vocab)
    minimize cross_entropy(logits, ids[:, 1:9])
}
RL
"$RLC" run bytes.rl --quiet > out.txt 2>&1 || { cat out.txt; fail "rlc run bytes.rl"; }
[ "$(cat runs/fit/samples.txt)" = "ab | cdabcd" ] || { cat runs/fit/samples.txt; fail "byte samples"; }
echo "sample: ok"
