#!/bin/sh
# Every example builds to a standalone trainer; where the data is installed, the
# first two steps of each train stage give `rlc run`'s losses bit for bit.
# Examples whose data cannot be found at build time (a data-bound dim such as
# brown.vocab needs it) are skipped with a note.
# usage: examples.sh RLC SOURCE_DIR
set -u
RLC=$1 SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/rlc-aot-examples.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
[ -d "$SRC/data" ] && export RL_DATA_PATH="$SRC/data${RL_DATA_PATH:+:$RL_DATA_PATH}"
fails=0 built=0
cd "$T" || exit 1
for rl in "$SRC"/examples/*.rl; do
    ex=$(basename "$rl" .rl)
    if ! "$RLC" build "$rl" -o "$T/$ex" --quiet 2> "$T/err"; then
        if grep -q "cannot find data file" "$T/err"; then
            echo "note: $ex skipped, its data is not installed"
            continue
        fi
        echo "FAIL: $ex does not build:"; cat "$T/err"
        fails=$((fails + 1))
        continue
    fi
    built=$((built + 1))
    readelf -d "$T/$ex" | grep NEEDED | grep -qi llvm && { echo "FAIL: $ex links LLVM"; fails=$((fails + 1)); }
done
# One example trained both ways, when Fashion-MNIST is there.
if [ -x "$T/mlp" ] && [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    "$RLC" run "$SRC/examples/mlp.rl" --steps 2 --threads 1 --quiet --log-steps run.log >/dev/null &&
        ./mlp --steps 2 --threads 1 --quiet --log-steps aot.log ||
        { echo "FAIL: mlp did not run"; fails=$((fails + 1)); }
    cmp -s run.log aot.log || { echo "FAIL: mlp step losses differ"; fails=$((fails + 1)); }
else
    echo "note: Fashion-MNIST is not installed; built only"
fi
[ "$fails" -eq 0 ] && echo "aot examples: $built built, all passed"
exit "$fails"
