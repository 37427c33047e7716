#!/bin/sh
# Bad input through `rlc run` (and a trainer from `rlc build`): one case per class
# of bad data file, parameter file and output file, each made here. Every case
# must exit with status 1 and print the message that names the file and what is
# wrong with it; a partial `load` must say what it took and what it did not.
# usage: run.sh RLC
set -u
RLC=$1
scratch_tag=badinput; . "$(dirname "$0")/../lib.sh"

# --- a classifier: labels against cross_entropy's classes ------------------------
cat > cls.rl <<'RL'
use std.loss

dataset d {
    x: [2] = csv("x.csv", columns = 2)
    y: i32 = csv("y.csv", columns = 1)
}

train fit {
    data:      d
    batch:     4
    epochs:    1
    optimizer: sgd(lr = 0.1)
    save:      "cls.rlw"
    param w: [2, 3] = zeros
    minimize cross_entropy(x @ w, y)
}
RL
printf 'a,b\n0.1,0.5\n0.2,0.5\n0.3,0.5\n0.4,0.5\n0.5,0.5\n' > x.csv
printf 'y\n0\n1\n\n2\n3\n1\n' > y.csv
expect "label past the classes" 1 "y.csv:6: field y holds 3, but it is used as a class of one_hot (3 classes)" \
    "$RLC" run cls.rl --quiet
printf 'y\n0\n1\n2\n-1\n1\n' > y.csv
expect "negative label" 1 "y.csv:5: field y holds -1" "$RLC" run cls.rl --quiet

# The same check in a standalone trainer: the limits travel with it.
printf 'y\n0\n1\n2\n0\n1\n' > y.csv
"$RLC" build cls.rl -o trainer --quiet || fail "rlc build"
printf 'y\n0\n1\n2\n7\n1\n' > y.csv
expect "trainer: label past the classes" 1 "y.csv:5: field y holds 7, but it is used as a class of one_hot (3 classes)" \
    ./trainer --quiet

# --- an embedding: token ids against the table's rows ----------------------------
cat > emb.rl <<'RL'
dataset d { t: i32[3] = tokens("t.txt", length = 3) }

train fit {
    data:      d
    batch:     2
    epochs:    1
    optimizer: sgd(lr = 0.1)
    param e: [5, 4] = normal(0, 1)
    h = reshape(e[reshape(t, [B * 3])], [B, 12])
    minimize mean(h ^ 2)
}
RL
printf '1 2 3\n4 0 1\n2 7 1\n' > t.txt
expect "id past the table" 1 "t.txt:3: field t holds 7, but it is used as a row of fit.e (5 rows) at emb.rl:9:" \
    "$RLC" run emb.rl --quiet

# --- data files --------------------------------------------------------------------
cat > dense.rl <<'RL'
dataset d { x: [2] = SOURCE }

train fit {
    data:      d
    batch:     2
    epochs:    1
    optimizer: sgd(lr = 0.1)
    param w: [2] = ones
    minimize mean((x * w) ^ 2)
}
RL
with_source() { sed "s|SOURCE|$1|" dense.rl > "$2"; }

printf 'a,b\n1,2\n3,nan\n' > nan.csv
with_source 'csv("nan.csv", columns = 2)' nan.rl
expect "NaN in csv" 1 "nan.csv:3: value 2 is not a finite f32: 'nan'" "$RLC" run nan.rl --quiet

# npy writer: magic, version 1.0, a header padded to 128 bytes, then the data
npy() { # FILE SHAPE DATA-AS-PRINTF-ESCAPES
    dict="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
    pad=$((128 - 10 - ${#dict} - 1))
    { printf '\223NUMPY\001\000'; printf "\\$(printf %03o $(((${#dict} + pad + 1) % 256)))\\000"
      printf '%s%*s\n' "$dict" "$pad" ''; printf "$3"; } > "$1"
}
npy big.npy '(2, 1099511627776, 1099511627776)' '\0\0\200\77'
with_source 'npy("big.npy")' big.rl
expect "npy shape that overflows" 1 "big.npy: shape in .npy header is too large" "$RLC" run big.rl --quiet
npy inf.npy '(2, 2)' '\0\0\200\77\0\0\200\77\0\0\200\177\0\0\200\77'
with_source 'npy("inf.npy")' inf.rl
expect "infinity in npy" 1 "inf.npy: example 1 holds an infinity (value 1 of the example)" "$RLC" run inf.rl --quiet

# an IDX file of 3 examples of 2 bytes, gzip'd, cut before its trailer
printf '\0\0\10\2\0\0\0\3\0\0\0\2\1\2\3\4\5\6' | gzip -c > whole.gz
head -c $(($(wc -c < whole.gz) - 8)) whole.gz > cut.gz
with_source 'idx("cut.gz")' cut.rl
expect "truncated gzip" 1 "cut.gz: compressed data cut short" "$RLC" run cut.rl --quiet

# --- parameter files (load:) -----------------------------------------------------
# rlw HEADER DATA-AS-PRINTF-ESCAPES: a safetensors file, header padded to 8 bytes
rlw() {
    h=$1
    while [ $(((${#h} + 8) % 8)) -ne 0 ]; do h="$h "; done
    { printf "\\$(printf %03o $((${#h} % 256)))\\$(printf %03o $((${#h} / 256)))\\0\\0\\0\\0\\0\\0"
      printf '%s' "$h"; printf "$2"; } > "$3"
}
sed -e 's|epochs:    1|epochs:    1\n    load:      "in.rlw"|' cls.rl > load.rl
printf 'y\n0\n1\n2\n0\n1\n' > y.csv
one='\0\0\200\77'
six="$one$one$one$one$one$one"
rlw '{"fit.w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"other":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}' \
    "$six" in.rlw
expect "overlapping tensors" 1 "in.rlw: tensors 'fit.w' (bytes [0, 24)) and 'other' (bytes [16, 24)) overlap" \
    "$RLC" run load.rl --quiet
rlw '{"fit.w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}' "$one$one$one$one\0\0\300\177$one" in.rlw
expect "NaN parameter" 1 "in.rlw: tensor 'fit.w' holds NaN at element 4" "$RLC" run load.rl --quiet
rlw '{"enc.w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}' "$six" in.rlw
expect "load that matches nothing" 1 "in.rlw: no tensor of the file is a parameter here" "$RLC" run load.rl --quiet
rlw '{"fit.w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"dec.w":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}' \
    "$six$one$one" in.rlw
expect "partial load" 0 "stage fit: in.rlw: loaded 1 of 1 parameters (fit.w); in the file but not parameters here: dec.w" \
    "$RLC" run load.rl

# --- output files ------------------------------------------------------------------
mkdir -p runs/fit
rm -f runs/fit/metrics.csv
ln -s /dev/full runs/fit/metrics.csv
expect "metrics on a full disk" 1 "runs/fit/metrics.csv: cannot write the metrics: No space left on device" \
    "$RLC" run cls.rl --quiet
rm runs/fit/metrics.csv
# the file-size limit (2 blocks: 1 KiB) stands in for a full disk, and SIGXFSZ,
# ignored, for its signal: the table alone is 3.2 kB
sed -e 's|\[5, 4\]|[200, 4]|' -e 's|epochs:    1|epochs:    1\n    save:      "emb.rlw"|' emb.rl > save.rl
printf '1 2 3\n4 0 1\n' > t.txt
expect "save on a full disk" 1 "emb.rlw: cannot write the parameter file: File too large" \
    sh -c "trap '' XFSZ; ulimit -f 2; exec \"\$0\" run save.rl --quiet" "$RLC"
ls | grep -q 'emb.rlw' && fail "a failed save left a file: $(ls | grep emb.rlw)"

[ "$fails" -eq 0 ] && echo "badinput: all passed"
exit $((fails > 0))
