#!/bin/sh
# Exact resume (docs/runtime.md, Resume): a two-stage program (Adam with a warm-up
# and cosine schedule, random masks and shuffled epochs; then SGD with momentum over a
# frozen encoder, in steps) is SIGKILLed several times at varied points, each
# time continued with --resume, and the final files must equal an uninterrupted
# run's byte for byte; the same with a trainer from `rlc build`. A finished stage
# is skipped, and a file from another stage, program or run setting is refused
# with exit status 1 and a message that says which.
# usage: run.sh RLC
set -u
RLC=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
T=$(mktemp -d "${TMPDIR:-/tmp}/rlc-resume-test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect_err WHAT STATUS PATTERN: a run that must fail with status 1 and say PATTERN
expect_err() {
    [ "$2" -eq 1 ] || fail "$1: exit status $2, not 1"
    grep -q -- "$3" "$T/err" || { fail "$1: no '$3' in:"; cat "$T/err"; }
}

# meta FILE KEY: a metadata value of a safetensors file written by rlc (its JSON
# header comes first; the tensor names here hold no such key).
meta() {
    [ -f "$1" ] || return 0
    grep -ao -m1 "\"$2\":\"[^\"]*\"" "$1" | head -n1 | sed 's/.*:"\(.*\)"/\1/'
}
# Steps both stages have saved so far.
saved_steps() {
    a=$(meta pre.rlw step); b=$(meta probe.rlw step)
    echo $(( ${a:-0} + ${b:-0} ))
}

cd "$T" || exit 1
awk 'BEGIN { srand(5); for (i = 0; i < 600; i++) { for (k = 0; k < 48; k++) printf "%s%.3f", k ? "," : "", rand() * 2 - 1; print "" } }' > xs.csv
awk 'BEGIN { srand(9); for (i = 0; i < 600; i++) print int(rand() * 4) }' > ys.csv
sed -i '1i header' ys.csv
sed -i "1s/^/$(awk 'BEGIN { for (k = 0; k < 48; k++) printf "%sc%d", k ? "," : "", k }')\n/" xs.csv
cat > prog.rl <<'RL'
use std.nn
use std.loss

dataset pts {
    x: [48] = csv("xs.csv", columns = 48)
    y: i32  = csv("ys.csv", columns = 1)
}
pretext noisy(x: [B, D], keep = 0.8) -> [B, D] = x * bernoulli(keep, [B, D])
encoder enc(x: [B, 48]) -> [B, 16] = dense(relu(dense(x, 192)), 16)
decoder dec(z: [B, 16]) -> [B, 48] = dense(relu(dense(z, 192)), 48)
decoder head(z: [B, 16]) -> [B, 4] = dense(z, 4)

train pre {
    data:       pts
    batch:      40
    epochs:     16
    optimizer:  adam(lr = 0.003)
    schedule:   cosine(warmup = 30)
    save:       "pre.rlw"
    save_every: 7
    minimize mean((dec(enc(noisy(x))) - x) ^ 2)
}
train probe {
    data:       pts
    batch:      32
    steps:      150
    optimizer:  sgd(lr = 0.05, momentum = 0.9)
    freeze:     [enc]
    save:       "probe.rlw"
    save_every: 5
    logits = head(enc(x))
    minimize cross_entropy(logits, y)
    report acc = accuracy(logits, y)
}
RL

# The uninterrupted run.
"$RLC" run prog.rl --threads 1 > plain.out 2> err || { fail "uninterrupted run"; cat err; }
cp pre.rlw plain-pre.rlw && cp probe.rlw plain-probe.rlw || fail "the uninterrupted run saved nothing"
[ "$(meta probe.rlw finished)" = true ] || fail "probe.rlw does not record a finished run"
[ "$(meta probe.rlw step)" = 150 ] || fail "probe.rlw records step $(meta probe.rlw step), not 150"

# kill_resume WHAT THRESHOLD EXTRA CMD...: runs CMD in short slices (SIGSTOP, look
# at the files, SIGCONT, 2 ms), so that it is stopped, not finished, when the files
# first record THRESHOLD saved steps; then lets it run EXTRA seconds more (a varied
# point: inside a step or a save) and SIGKILLs it. A kill that lands before the
# end leaves files that record an unfinished run.
landed=0
kill_resume() {
    what=$1 threshold=$2 extra=$3
    shift 3
    "$@" > /dev/null 2> err &
    pid=$!
    while kill -0 $pid 2>/dev/null && [ ! -f pre.rlw ]; do sleep 0.01; done
    while kill -STOP $pid 2>/dev/null && [ "$(saved_steps)" -lt "$threshold" ]; do
        kill -CONT $pid
        sleep 0.002
    done
    kill -CONT $pid 2>/dev/null
    sleep "$extra"
    if kill -9 $pid 2>/dev/null; then
        wait $pid 2>/dev/null
        [ "$(meta probe.rlw finished)" = true ] || landed=$((landed + 1))
    else
        wait $pid || { fail "$what: the run failed before it was killed"; cat err; }
    fi
}

check_same() {
    for f in pre probe; do
        cmp -s $f.rlw plain-$f.rlw || fail "$1: $f.rlw differs from the uninterrupted run's"
    done
}

# rlc run: killed at five points (mid-save among them: saves are frequent), in both stages.
rm -f pre.rlw probe.rlw
i=0
for point in "35 0" "90 0.001" "150 0.004" "210 0" "260 0.002"; do
    set -- $point
    kill_resume "rlc run kill $i" $1 $2 "$RLC" run prog.rl --threads 1 --resume
    i=$((i + 1))
done
"$RLC" run prog.rl --threads 1 --resume > resumed.out 2> err || { fail "final rlc run --resume"; cat err; }
[ "$landed" -ge 4 ] || fail "only $landed of 5 kills landed before the run's end"
echo "rlc run: $landed of 5 kills landed mid-run"
check_same "rlc run after $landed kills"

# A finished run is skipped, and its files are left as they are.
"$RLC" run prog.rl --threads 1 --resume > skip.out 2> err || { fail "--resume of a finished run"; cat err; }
grep -q "pre: already finished in pre.rlw (step 240): skipped" skip.out || { fail "pre not skipped:"; cat skip.out; }
grep -q "probe: already finished in probe.rlw (step 150): skipped" skip.out || fail "probe not skipped"
check_same "after the skipping run"

# Refusals, each with exit status 1 and what is wrong. Stage by stage from here.
cp plain-pre.rlw probe.rlw
"$RLC" run prog.rl --stage probe --resume 2> err > /dev/null
expect_err "another stage's file" $? "cannot resume from probe.rlw: it was written by stage pre, not probe"
sed 's/lr = 0.05/lr = 0.04/' prog.rl > other.rl
cp plain-probe.rlw probe.rlw
"$RLC" run other.rl --stage probe --resume 2> err > /dev/null
expect_err "another program's file" $? "it was written by another program (prog.rl"
"$RLC" run prog.rl --stage probe --resume --steps 100 2> err > /dev/null
expect_err "other settings" $? "it records a run with .*steps=150.* but this run has .*steps=100"
printf 'not a parameter file' > probe.rlw
"$RLC" run prog.rl --stage probe --resume 2> err > /dev/null
[ $? -eq 1 ] || fail "a damaged file: exit status not 1"
grep -q "probe.rlw" err || fail "a damaged file: the message does not name it"

# A trainer from rlc build resumes the same way, to the same bytes.
"$RLC" build prog.rl -o trainer --quiet 2> err || { fail "rlc build"; cat err; }
rm -f pre.rlw probe.rlw
landed=0
i=0
for point in "20 0" "120 0.003" "200 0" "250 0.001"; do
    set -- $point
    kill_resume "trainer kill $i" $1 $2 ./trainer --threads 1 --resume
    i=$((i + 1))
done
./trainer --threads 1 --resume > /dev/null 2> err || { fail "final trainer --resume"; cat err; }
[ "$landed" -ge 3 ] || fail "only $landed of 4 trainer kills landed before the run's end"
echo "trainer: $landed of 4 kills landed mid-run"
check_same "trainer after $landed kills"
./trainer --threads 1 --resume > skip.out 2> err || fail "trainer --resume of a finished run"
grep -q "probe: already finished" skip.out || fail "the trainer does not skip a finished stage"
cp plain-pre.rlw probe.rlw
./trainer --stage probe --resume 2> err > /dev/null
expect_err "trainer: another stage's file" $? "written by stage pre, not probe"

[ "$fails" -eq 0 ] && echo "resume: all passed"
exit "$fails"
