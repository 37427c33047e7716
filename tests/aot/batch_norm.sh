#!/bin/sh
# batch_norm end to end (docs/language.md): the standalone trainer of a program with batch_norm
# over images and vectors gives `rlc run`'s loss at every step and writes the same parameter file,
# bit for bit, running statistics included; the file holds the state (enc.batch_norm0.mean); an
# eval stage run alone, loading it, loads the state and reports what the eval right after training
# (same store) reported; a train stage that freezes the encoder assigns no running statistics (its
# batch_norm runs as in eval); a last batch of one example is an error before any step.
# usage: batch_norm.sh RLC
set -u
RLC=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/rlc-aot-bn.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
awk 'BEGIN { srand(7); for (i = 0; i < 64; i++) { for (j = 0; j < 32; j++) printf "%s%.3f", j ? "," : "", 3 * rand() + 1;
                                               printf "\n" } }' > "$T/img.csv"
awk 'BEGIN { srand(8); for (i = 0; i < 64; i++) printf "%d\n", int(rand() * 3) }' > "$T/lab.csv"
cat > "$T/bn.rl" <<'RL'
use std.nn
use std.loss

dataset d {
    x: [2, 4, 4] = csv("img.csv", columns = 32)
    y: i32 = csv("lab.csv", columns = 1)
}

encoder enc(x: [B, 2, 4, 4]) -> [B, 6] {
    h = max_pool2d(relu(batch_norm(conv(x, 3, 3, padding = 1))), 2)
    return relu(batch_norm(dense(reshape(h, [B, 12]), 6), momentum = 0.2))
}

train t {
    data:      d
    batch:     16
    epochs:    3
    optimizer: adam(lr = 0.01)
    save:      "bn.rlw"
    minimize cross_entropy(dense(enc(x), 3), y)
}

train tune {
    data:      d
    batch:     16
    steps:     2
    freeze:    [enc]
    optimizer: sgd(lr = 0.1)
    minimize cross_entropy(linear(enc(x), 3), y)
}

eval after {
    data: d
    report m = mean(enc(x))
}

eval loaded {
    data: d
    load: "bn.rlw"
    report m = mean(enc(x))
}
RL
cd "$T" || exit 1
fails=0
"$RLC" run bn.rl --stage t --threads 1 --quiet --log-steps run.log >/dev/null || { echo "FAIL: rlc run"; fails=1; }
mv bn.rlw run.rlw
"$RLC" build bn.rl -o trainer --quiet || { echo "FAIL: rlc build"; exit 1; }
./trainer --stage t --threads 1 --quiet --log-steps aot.log >/dev/null || { echo "FAIL: trainer run"; fails=1; }
[ "$(wc -l < run.log)" -eq 12 ] || { echo "FAIL: rlc run logged $(wc -l < run.log) steps, not 12"; fails=1; }
cmp -s run.log aot.log || { echo "FAIL: step losses differ"; diff run.log aot.log | head; fails=1; }
cmp -s run.rlw bn.rlw || { echo "FAIL: the parameter files differ"; fails=1; }
for s in mean var; do
    grep -q "\"enc.batch_norm0.$s\"" bn.rlw || { echo "FAIL: bn.rlw has no enc.batch_norm0.$s"; fails=1; }
done
report() { awk -v s="$2" '$1 == s && $2 == "m" { print $3 }' "$1"; }
"$RLC" run bn.rl --threads 1 > all.out 2>&1 || { echo "FAIL: rlc run (all stages)"; cat all.out; fails=1; }
"$RLC" run bn.rl --stage loaded --threads 1 > loaded.out 2>&1 || { echo "FAIL: the loaded eval"; cat loaded.out; fails=1; }
grep -q "loaded 12 of 12 parameters (.*enc.batch_norm0.mean, enc.batch_norm0.var" loaded.out ||
    { echo "FAIL: the eval did not load the running statistics:"; cat loaded.out; fails=1; }
after=$(report all.out after) loaded=$(report loaded.out loaded)
[ -n "$after" ] && [ "$after" = "$loaded" ] ||
    { echo "FAIL: eval after training reports '$after', after loading the file '$loaded'"; fails=1; }
assigns() { "$RLC" dump bn.rl --ir --stage "$1" | grep -c " assign "; }
[ "$(assigns t)" -eq 4 ] || { echo "FAIL: stage t assigns $(assigns t) running statistics, not 4"; fails=1; }
[ "$(assigns tune)" -eq 0 ] || { echo "FAIL: the frozen encoder's statistics are assigned in tune"; fails=1; }
if "$RLC" run bn.rl --stage t --limit 33 --quiet > one.out 2>&1; then
    echo "FAIL: a last batch of one example ran"; fails=1
elif ! grep -q "stage t: the last batch of an epoch holds 1 example (33 examples, batch 16), but batch_norm needs at least 2" one.out; then
    echo "FAIL: the message for a last batch of one example:"; cat one.out; fails=1
fi
[ $fails = 0 ] && echo "ok: $(wc -l < run.log) steps and the saved state agree; eval after loading = $loaded"
exit $fails
