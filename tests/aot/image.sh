#!/bin/sh
# rlc build on a convolutional program (every image op: conv, deconv, pools,
# upsample2d, global_avg_pool, dropout) with image fields [C, H, W]: the
# standalone trainer must give `rlc run`'s loss at every step, bit for bit.
# usage: image.sh RLC
set -u
RLC=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/rlc-aot-image.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
awk 'BEGIN { srand(5); for (i = 0; i < 96; i++) { for (j = 0; j < 64; j++) printf "%s%.3f", j ? "," : "", rand();
                                               printf "\n" } }' > "$T/img.csv"
awk 'BEGIN { srand(6); for (i = 0; i < 96; i++) printf "%d\n", int(rand() * 3) }' > "$T/lab.csv"
cat > "$T/cnn.rl" <<'RL'
use std.nn
use std.loss

dataset d {
    x: [1, 8, 8] = csv("img.csv", columns = 64)
    y: i32 = csv("lab.csv", columns = 1)
}

encoder enc(x: [B, 1, 8, 8]) -> [B, 6, 2, 2] {
    h = max_pool2d(relu(conv(x, 4, 3, padding = 1)), 2)               # [B, 4, 4, 4]
    return avg_pool2d(relu(conv(h, 6, 3, stride = 1, padding = 1)), 2) # [B, 6, 2, 2]
}

decoder dec(z: [B, 6, 2, 2]) -> [B, 1, 8, 8] =
    sigmoid(deconv(upsample2d(z, 2), 1, 2, stride = 2))

train t {
    data:      d
    batch:     16
    epochs:    3
    optimizer: adam(lr = 0.01)
    z = enc(x)
    logits = dense(dropout(global_avg_pool(z), 0.2), 3)
    minimize cross_entropy(logits, y) + mse(reshape(dec(z), [B, 64]), reshape(x, [B, 64]))
}
RL
cd "$T" || exit 1
fails=0
"$RLC" run cnn.rl --threads 1 --quiet --log-steps run.log >/dev/null || { echo "FAIL: rlc run"; fails=1; }
"$RLC" build cnn.rl -o trainer --quiet || { echo "FAIL: rlc build"; exit 1; }
./trainer --threads 1 --quiet --log-steps aot.log || { echo "FAIL: trainer run"; fails=1; }
[ "$(wc -l < run.log)" -eq 18 ] || { echo "FAIL: rlc run logged $(wc -l < run.log) steps, not 18"; fails=1; }
cmp -s run.log aot.log || { echo "FAIL: step losses differ"; diff run.log aot.log | head; fails=1; }
[ $fails = 0 ] && echo "ok: $(wc -l < run.log) steps agree"
exit $fails
