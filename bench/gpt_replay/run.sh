#!/usr/bin/env bash
# bench/gpt_replay/run.sh [SEED] — examples/gpt.rl in rlc and in PyTorch from the same initial
# parameters on the same batches in the same order, step for step (docs/examples.md, section 8).
# rlc writes its initial parameters (gpt.rl's model with a one-step stage at sgd lr 1e-30, which
# moves no f32 weight), order.c prints the pretrain stage's first-epoch order, rlc trains gpt.rl
# with --log-steps, and replay.py trains torch_gpt.py's GPT from those parameters on that order.
# Prints the mean training loss of each 100 steps and the validation cross-entropy of both.
# Needs build/rlc, build/runtime/librlrt.a, RL_DATA_PATH with brown/, /usr/bin/python3 with torch.
set -euo pipefail
seed=${1:-1}
here=$(cd "$(dirname "$0")/../.." && pwd)
rlc=${RLC:-$here/build/rlc}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cc -O2 -I"$here/runtime" "$here/bench/gpt_replay/order.c" "$here/build/runtime/librlrt.a" \
   -lopenblas -lm -lpthread -ldl -o "$work/order"
model=$(sed '/^train pretrain/,$d' "$here/examples/gpt.rl")
grep -q "^encoder gpt" <<<"$model" || { echo "run.sh: examples/gpt.rl has no encoder gpt" >&2; exit 1; }
cat > "$work/init.rl" <<RL
$model
train init {
    data:      brown
    batch:     32
    steps:     1
    optimizer: sgd(lr = 1e-30)
    save:      "init.rlw"
    minimize cross_entropy(gpt(ids[:, 0:T]), ids[:, 1:T + 1])
}
RL
cd "$work"
"$rlc" run init.rl --seed "$seed" --threads 1 --quiet >/dev/null
"$rlc" run "$here/examples/gpt.rl" --seed "$seed" --threads 1 --log-steps rlc.txt > rlc_val.txt
windows=$(/usr/bin/python3 -c "import sys; sys.path.insert(0, '$here/examples'); import torch_gpt as g, os
t, _ = g.read_corpus(os.path.join(os.environ.get('RL_DATA_PATH', 'data').split(':')[0], 'brown')); print(len(g.windows(t, 0, 0.9)))")
./order "$seed" "$windows" 0 > order.txt
/usr/bin/python3 "$here/bench/gpt_replay/replay.py" init.rlw order.txt > torch.txt
/usr/bin/python3 - <<'PY'
rlc = [float(l.split()[2]) for l in open("rlc.txt")]
torch = [float(l.split()[1]) for l in open("torch.txt") if not l.startswith("val")]
print("steps      rlc     PyTorch (mean training loss, same init and batches)")
for a in range(0, len(rlc), 100):
    print(f"{a + 1:3d}-{a + 100:<4d} {sum(rlc[a:a + 100]) / 100:.4f}  {sum(torch[a:a + 100]) / 100:.4f}")
val = [l for l in open("rlc_val.txt") if "xent" in l][0].split("xent")[1].split()[0]
print(f"validation xent: rlc {val}  PyTorch {open('torch.txt').read().split('val_xent')[1].split()[0]}")
PY
