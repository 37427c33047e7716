#!/usr/bin/env bash
# bench/llmc/run.sh LLMC_DIR — workload 9 against llm.c's hand-written C trainer.
# LLMC_DIR is a checkout of github.com/karpathy/llm.c (its train_gpt2.c and llmc/*.h). llm.c
# wants GPT-2's weights and tokenizer, which are downloaded; offline, this runs its training loop
# on workload 9's configuration from random weights instead: the Brown word ids (make_inputs.py),
# B = 32, T = 32, 2 layers, 4 heads, 128 channels, AdamW(3e-4, weight decay 0), no validation or
# sampling. Differences from gpt.rl, by llm.c's design: the output projection is tied to the
# token embedding (no bias), q/k/v are one [C, 3C] product, batches are read in order.
# Prints CPU time per step (bench/cpu_step.sh) of llm.c and rlc at 1 and 2 threads
# (OMP_NUM_THREADS; llm.c's matmuls are OpenMP loops, not BLAS).
set -euo pipefail
[ $# = 1 ] || { echo "usage: bench/llmc/run.sh LLMC_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")/../.." && pwd)
src=$1 work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/llmc"
cp "$src"/llmc/*.h "$work/llmc/"
/usr/bin/python3 - "$src/train_gpt2.c" "$work/train_gpt2.c" <<'PY'
import sys
s = open(sys.argv[1]).read()
edits = [('"gpt2_124M.bin"', '"gpt_brown.bin"'),
         ('access(tiny_shakespeare_train, F_OK) != -1 ? tiny_shakespeare_train : tiny_stories_train', '"brown_train.bin"'),
         ('access(tiny_shakespeare_val, F_OK) != -1 ? tiny_shakespeare_val : tiny_stories_val', '"brown_train.bin"'),
         ('int B = 4;', 'int B = 32;'), ('int T = 64;', 'int T = 32;'),
         ('for (int step = 0; step <= 40; step++) {', 'for (int step = 0; step < STEPS; step++) {'),
         ('if (step % 10 == 0) {', 'if (0) {'), ('if (step > 0 && step % 20 == 0) {', 'if (0) {'),
         ('gpt2_update(&model, 1e-4f,', 'gpt2_update(&model, 3e-4f,')]
for a, b in edits:
    if a not in s: sys.exit(f"llmc/run.sh: train_gpt2.c has no `{a}` (another llm.c version?)")
    s = s.replace(a, b)
open(sys.argv[2], "w").write(s)
PY
for n in 3 13; do gcc -O3 -march=native -fopenmp -DSTEPS=$n -I"$work" "$work/train_gpt2.c" -o "$work/train_$n" -lm; done
(cd "$work" && /usr/bin/python3 "$here/bench/llmc/make_inputs.py" "$here/bench")
rlc=${RLC:-$here/build/rlc}
"$rlc" run "$here/bench/gpt.rl" --steps 1 --threads 1 --quiet >/dev/null  # warm the object cache
for t in 1 2; do
  OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$here/bench/cpu_step.sh" --reps 2 --short 3 --long 13 \
    "llmc_t$t" "cd $work && ./train_{steps}" \
    "rlc_t$t" "$rlc run $here/bench/gpt.rl --steps {steps} --threads $t --quiet"
done
