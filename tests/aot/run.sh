#!/bin/sh
# rlc build end to end: a small program with data made here is built to a
# standalone trainer, which must give `rlc run`'s loss at every step bit for bit,
# run with the compiler's folders (and LLVM's) out of reach, link no LLVM, and
# report missing data, a data-bound dim that changed, and bad options clearly.
# usage: run.sh RLC BUILD_DIR SOURCE_DIR
set -u
RLC=$1 BUILD=$2 SRC=$3
T=$(mktemp -d "${TMPDIR:-/tmp}/rlc-aot-test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect_err WHAT STATUS PATTERN: the last command's status and stderr ($T/err)
expect_err() {
    [ "$2" -ne 0 ] || fail "$1: exit status 0"
    grep -q -- "$3" "$T/err" || { fail "$1: no '$3' in:"; cat "$T/err"; }
}

mkdir -p "$T/src" "$T/other" "$T/changed" "$T/empty"
awk 'BEGIN { srand(7); print "a,b,c,d";
             for (i = 0; i < 200; i++) printf "%.4f,%.4f,%.4f,%.4f\n", rand()*2-1, rand()*2-1, rand()*2-1, rand()*2-1 }' \
    > "$T/src/pts.csv"
awk 'BEGIN { srand(3); for (i = 0; i < 120; i++) printf "%d %d %d\n", 1+int(rand()*9), 1+int(rand()*9), int(rand()*10) }' \
    > "$T/src/toks.txt"
cat > "$T/src/prog.rl" <<'RL'
use std.nn

dataset pts { x: [4] = csv("pts.csv", columns = 4) }
dataset toks = tokens("toks.txt", length = 3)

pretext noisy(x: [B, D], keep = 0.5) -> ([B, D], [B, D]) = (x * bernoulli(keep, [B, D]), x)

train ae {
    data:      pts
    batch:     16
    epochs:    3
    optimizer: adam(lr = 0.01)
    (n, c) = noisy(x, keep = 0.8)
    h = relu(dense(n, 8))
    minimize mean((dense(h, 4) - c) ^ 2)
}

train emb {
    data:      toks
    batch:     10
    epochs:    2
    optimizer: sgd(lr = 0.1, momentum = 0.9)
    param e: [toks.vocab, 5] = normal(0, 0.1)
    minimize mean(e[x] ^ 2)
}
RL

cd "$T/src" || exit 1
"$RLC" run prog.rl --threads 1 --quiet --log-steps "$T/run.log" >/dev/null || fail "rlc run"
"$RLC" build prog.rl -o "$T/other/trainer" --quiet || fail "rlc build"
[ -x "$T/other/trainer" ] || { echo "FAIL: no trainer"; exit 1; }
rm prog.rl   # the trainer needs no source

# Same seed, same data: the same loss at every step, bit for bit.
cd "$T/other" || exit 1
./trainer --threads 1 --quiet --data-path "$T/src" --log-steps "$T/aot.log" || fail "trainer run"
[ "$(wc -l < "$T/run.log")" -eq 63 ] || fail "rlc run logged $(wc -l < "$T/run.log") steps, not 63"
cmp -s "$T/run.log" "$T/aot.log" || { fail "step losses differ"; diff "$T/run.log" "$T/aot.log" | head; }

# No LLVM in the ELF's needed list, and it runs with the compiler's folders and
# LLVM's out of reach (a private mount namespace hides them, where one is allowed).
if readelf -d trainer | grep NEEDED | grep -qi llvm; then fail "trainer links LLVM"; fi
readelf -d trainer | grep -q NEEDED || fail "readelf shows no NEEDED entries"
if unshare -rm true 2>/dev/null; then
    unshare -rm sh -c 'for d in "$1" "$2" /usr/lib/llvm-19; do [ -d "$d" ] && mount -t tmpfs none "$d"; done
                       ./trainer --threads 1 --quiet --data-path "$3" --log-steps "$4"' \
        sh "$BUILD" "$SRC" "$T/src" "$T/hidden.log" || fail "trainer with the compiler out of reach"
    cmp -s "$T/run.log" "$T/hidden.log" || fail "step losses differ with the compiler out of reach"
else
    echo "note: no private mount namespace here; ran only from another folder"
fi

# Its command line.
./trainer --help > "$T/help" || fail "--help status"
for w in "train ae" "train emb" "batch 16" "adam(lr = 0.01)" "--data-path" "--load" "--save" "--stage" "pts.csv"; do
    grep -q -- "$w" "$T/help" || fail "--help lacks '$w'"
done
./trainer --epochs 1 --quiet --stage ae --data-path "$T/src" --save "$T/ae.rlw" --seed 5 || fail "--stage --save"
[ -s "$T/ae.rlw" ] || fail "--save wrote nothing"
./trainer --epochs 1 --quiet --stage ae --data-path "$T/src" --load "$T/ae.rlw" || fail "--load"
./trainer --quiet --stage ae --data-path "$T/src" --load "$T/none.rlw" 2> "$T/err"
expect_err "--load of a missing file" $? "none.rlw"
./trainer --epochs 0 2> "$T/err"
expect_err "--epochs 0" $? "--epochs needs a whole number from 1 to 9007199254740992, not '0' (too small)"
./trainer --bogus 2> "$T/err"
expect_err "unknown option" $? "unknown option '--bogus'"
./trainer --stage nope --data-path "$T/src" 2> "$T/err"
expect_err "unknown stage" $? "no stage named nope"

# A missing data file: every place looked, as rlc run says it.
./trainer --quiet --data-path "$T/empty" 2> "$T/err"
expect_err "missing data" $? "cannot find data file 'toks.txt'"

# toks.vocab was 10 when built; data with a larger id needs a rebuild.
cp "$T/src/pts.csv" "$T/changed/"
{ cat "$T/src/toks.txt"; echo "12 1 2"; } > "$T/changed/toks.txt"
./trainer --quiet --data-path "$T/changed" 2> "$T/err"
expect_err "changed vocabulary" $? "its vocab is 13 in this data, but the steps were compiled for 10"
grep -q "rebuild" "$T/err" || fail "the vocabulary error does not say to rebuild"
# ...but a stage that does not use that dataset still runs.
./trainer --quiet --stage ae --steps 2 --data-path "$T/changed" || fail "ae with changed toks"

# A loss that goes non-finite: the trainer names the step and the .rl line:col of
# the first value its checker finds not finite (a forward value; a gradient that
# spoils a parameter while the loss stays finite), as rlc run does, with exit 1.
mkdir -p "$T/nf" && cd "$T/nf" || exit 1
printf 'a,b\n0.5,0.25\n0.25,0.75\n' > points.csv
for case in "log 0.3" "sqrt 2"; do
    set -- $case
    printf 'dataset d {\n    x: [2] = csv("points.csv", columns = 2)\n}\n\ntrain blow {\n    data:      d\n    batch:     2\n    epochs:    10\n    optimizer: sgd(lr = %s)\n    save:      "%s.rlw"\n    param w: f32 = 1\n    minimize %s(w) + 0 * mean(x)\n}\n' "$2" "$1" "$1" > "$1.rl"
    "$RLC" build "$1.rl" -o "$1" --quiet || fail "rlc build $1.rl"
    ./"$1" --threads 1 --quiet 2> "$T/err"
    expect_err "non-finite $1" $? "$1.rl:12:14"
done
./log --threads 1 --quiet 2> "$T/err"
grep -q "the loss is NaN at step 3 (epoch 4, batch 1): the value of \`log(w)" "$T/err" || { fail "log: message"; cat "$T/err"; }
./sqrt --threads 1 --quiet 2> "$T/err"
grep -q "parameter blow.w became non-finite at step 1 (epoch 2, batch 1): the gradient of \`sqrt(w)\`" "$T/err" ||
    { fail "sqrt: message"; cat "$T/err"; }

# rlc build's own errors.
cd "$T" || exit 1
printf 'dataset d { x: [2] = csv("p.csv", columns = 2) }\ntrain s {\n data: d\n optimizer: sgd(lr = 0.1)\n param w: [2] = ones\n minimize mean(x * w)\n}\n' > small.rl
RLC_LINKER=/nonexistent/cc "$RLC" build small.rl -o t2 2> err
expect_err "missing linker" $? "RLC_LINKER"
# A linker that lacks OpenBLAS (as ld says it): the error says what to install.
printf '#!/bin/sh\necho "/usr/bin/ld: cannot find -lopenblas: No such file or directory" >&2\nexit 1\n' > noblas-cc
chmod +x noblas-cc
RLC_LINKER="$T/noblas-cc" "$RLC" build small.rl -o t2 2> err
expect_err "missing OpenBLAS" $? "apt install libopenblas-dev"
"$RLC" build small.rl -o t2 --target aarch64-unknown-linux-gnu 2> err
expect_err "foreign target" $? "must be the host's"
"$RLC" build small.rl -o t2 --cpu x86-64-v3 --quiet || fail "--cpu x86-64-v3"
[ -x t2 ] || fail "no trainer for --cpu x86-64-v3"

[ "$fails" -eq 0 ] && echo "aot: all passed"
exit "$fails"
