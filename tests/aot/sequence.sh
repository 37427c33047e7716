#!/bin/sh
# rlc build on a small causal transformer (std.nn's transformer_block over embedded
# token windows, next-token cross-entropy) with an i32 `where` that hides tokens and an
# einsum: the standalone trainer must give `rlc run`'s loss at every step, bit for bit.
# usage: sequence.sh RLC
set -u
RLC=$1
T=$(mktemp -d "${TMPDIR:-/tmp}/rlc-aot-seq.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
awk 'BEGIN { srand(7); for (i = 0; i < 64; i++) { for (j = 0; j < 9; j++) printf "%s%d", j ? "," : "", int(rand() * 11) + 1;
                                              printf "\n" } }' > "$T/ids.csv"
cat > "$T/gpt.rl" <<'RL'
use std.nn
use std.loss

dataset d { ids: i32[9] = csv("ids.csv", columns = 9) }

pretext hide(ids: i32[B, T], mask_id: int, p = 0.2) -> i32[B, T] = where(bernoulli(p, [B, T]), mask_id, ids)

encoder lm(ids: i32[B, T]) -> [B, T, 12] {
    param pos: [T, 16] = normal(0, 0.02)
    h = transformer_block(embedding(ids, 13, 16) + pos, 2, 32, causal = true)
    return dense(layer_norm(h), 12)
}

train t {
    data:      d
    batch:     16
    epochs:    3
    optimizer: adamw(lr = 0.01, weight_decay = 0.01)
    x = hide(ids[:, 0:8], 12)
    logits = lm(x)
    y = ids[:, 1:9]
    minimize cross_entropy(logits, y) + 0.01 * mean(einsum("btk,bsk->bts", logits, logits))
}
RL
cd "$T" || exit 1
fails=0
"$RLC" run gpt.rl --threads 1 --quiet --log-steps run.log >/dev/null || { echo "FAIL: rlc run"; fails=1; }
"$RLC" build gpt.rl -o trainer --quiet || { echo "FAIL: rlc build"; exit 1; }
./trainer --threads 1 --quiet --log-steps aot.log || { echo "FAIL: trainer run"; fails=1; }
[ "$(wc -l < run.log)" -eq 12 ] || { echo "FAIL: rlc run logged $(wc -l < run.log) steps, not 12"; fails=1; }
cmp -s run.log aot.log || { echo "FAIL: step losses differ"; diff run.log aot.log | head; fails=1; }
[ $fails = 0 ] && echo "ok: $(wc -l < run.log) steps agree"
exit $fails
