#!/bin/sh
# RLC_TIME_PHASES=1 (docs/performance.md, "Where a compile goes"): `rlc run` prints one
# `phase: NAME  W ms wall  C ms CPU` line on stderr per phase of its compile, the
# compile of every module (or part) included on a first run and the cache look-up on a
# second; without the variable (or with 0) it prints none, and the run is the same.
# usage: phases.sh RLC
set -u
RLC=$1
scratch_tag=phases; . "$(dirname "$0")/../lib.sh"

mkdir words
awk 'BEGIN { for (i = 0; i < 40; i++) print "the cat sat on a mat" }' > words/a.txt
cat > lm.rl <<'RL'
use std.nn
use std.loss

dataset lm = sequences(text("words/"), length = 7, stride = 1)

train fit {
    data:      lm
    batch:     8
    epochs:    1
    optimizer: adam(lr = 0.05)
    logits = dense(embedding(ids[:, 0:6], lm.vocab, 8), lm.vocab)
    minimize cross_entropy(logits, ids[:, 1:7])
}

eval held {
    data: lm
    logits = dense(embedding(ids[:, 0:6], lm.vocab, 8), lm.vocab)
    report xent = cross_entropy(logits, ids[:, 1:7])
}
RL
export XDG_CACHE_HOME="$T/cache"
RLC_TIME_PHASES=1 "$RLC" run lm.rl --steps 2 --log-steps timed.log > out 2> err ||
    { fail "timed run"; cat out err; }
for phase in "parse and check" "lower, differentiate, simplify" "plan kernels" "emit IR of rlc_step_0" \
             "optimize fit" "machine code of fit" "compile " "store and link"; do
    grep -qE "^phase: $phase.* ms wall +[0-9.]+ ms CPU$" err || { fail "no '$phase' line"; cat err; }
done
grep -v '^phase: ' err | grep -q . && { fail "stderr holds more than phase lines"; cat err; }
RLC_TIME_PHASES=1 "$RLC" run lm.rl --steps 2 > out 2> err || { fail "cached timed run"; cat out err; }
grep -q "^phase: cache lookup by inputs (hit)" err || { fail "no cache hit line"; cat err; }
grep -q "^phase: optimize" err && { fail "a cached run optimized a module"; cat err; }
RLC_TIME_PHASES=0 "$RLC" run lm.rl --steps 2 --no-cache --log-steps plain.log > out 2> err ||
    { fail "plain run"; cat out err; }
[ -s err ] && { fail "RLC_TIME_PHASES=0 printed on stderr"; cat err; }
cmp -s timed.log plain.log || { fail "the timed run's losses differ"; cat timed.log plain.log; }
[ "$fails" -eq 0 ] && echo "all phase cases pass"
[ "$fails" -eq 0 ]
