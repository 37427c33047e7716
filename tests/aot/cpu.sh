#!/bin/sh
# rlc build --cpu NAME: the trainer's kernels use only that processor's
# instructions, whatever the host has (a host with AVX-512 once leaked zmm code
# into --cpu x86-64-v3 trainers). The runtime's own *_avx512 functions are
# chosen at run time and are not counted.
# usage: cpu.sh RLC
set -u
RLC=$1
scratch_tag=aot-cpu; . "$(dirname "$0")/../lib.sh"
awk 'BEGIN { srand(3); for (i = 0; i < 64; i++) { for (j = 0; j < 32; j++) printf "%s%.3f", j ? "," : "", rand();
                                               printf "\n" } }' > x.csv
cat > ae.rl <<'RL'
use std.nn
use std.loss
dataset d { x: [32] = csv("x.csv", columns = 32) }
encoder enc(x: [B, 32]) -> [B, 8] = tanh(dense(x, 8))
decoder dec(z: [B, 8]) -> [B, 32] = sigmoid(dense(z, 32))
train t {
    data: d
    batch: 16
    epochs: 2
    optimizer: adam(lr = 0.01)
    minimize mse(dec(enc(x)), x)
}
RL

# count_outside_runtime FILE REGISTER: instructions naming REGISTER (zmm, ymm)
# in functions other than the runtime's dispatched *_avx512 ones.
count_outside_runtime() {
    objdump -d --no-show-raw-insn "$1" |
        awk -v reg="%$2" '/^[0-9a-f]+ <.*>:$/ { fn = $2 } index($0, reg) && fn !~ /_avx512>:$/ { n++ } END { print n + 0 }'
}

# cpu NAME FORBIDDEN: a trainer for NAME has no FORBIDDEN-register code and runs.
cpu() {
    "$RLC" build ae.rl -o "ae-$1" --cpu "$1" --quiet > out 2>&1 || { fail "build --cpu $1"; cat out; return; }
    for reg in $2; do
        n=$(count_outside_runtime "ae-$1" "$reg")
        [ "$n" -eq 0 ] || fail "--cpu $1: $n instructions use $reg registers"
    done
    "./ae-$1" > out 2>&1 || { fail "trainer for --cpu $1 did not run"; cat out; }
}

cpu x86-64-v3 zmm
cpu x86-64 "ymm zmm"
# --features still overrides what the processor brings.
"$RLC" build ae.rl -o ae-nofma --cpu x86-64-v3 --features -avx2,-fma,-avx --quiet > out 2>&1 || { fail "build --features"; cat out; }
[ -f ae-nofma ] && n=$(count_outside_runtime ae-nofma ymm) && { [ "$n" -eq 0 ] || fail "--features -avx: $n ymm instructions"; }

# The host's build (no --cpu) is free to use AVX-512: only a sanity check that
# the counter sees wide registers at all where the host has them.
if grep -q avx512f /proc/cpuinfo; then
    "$RLC" build ae.rl -o ae-host --quiet > out 2>&1 || { fail "host build"; cat out; }
    n=$(count_outside_runtime ae-host zmm)
    [ "$n" -gt 0 ] || fail "host build on an AVX-512 machine has no zmm code: the counter cannot see it"
fi

[ "$fails" -eq 0 ] && echo "ok: --cpu limits the trainer's instructions"
exit "$fails"
