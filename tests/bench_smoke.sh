#!/usr/bin/env bash
# Smoke run of the benchmark harness: checks that bench/run.sh works, never how fast anything is.
#   bench_smoke.sh RLC
# 1. With an rlc that does not keep the harness's contract (a stand-in that prints nothing), the
#    harness must stop with a message naming the missing line.
# 2. bench/run.sh --quick runs every workload once with few steps and writes its tables: side by
#    side when RLC has a `run` command, the peers alone while it has none.
# Exit 77 (skipped) when the peers' Python packages or the data are missing.
set -uo pipefail
rlc=${1:?usage: bench_smoke.sh RLC}
here=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3

if ! $py -c "import torch, gensim, numpy" 2>/dev/null; then
  echo "SKIP: $py cannot import torch, gensim, numpy (bench/run.sh installs them)"; exit 77
fi
if ! (cd "$here/bench" && $py -c "import brown; brown.corpus_dir()") >/dev/null 2>&1 ||
   [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "SKIP: no Brown corpus or Fashion-MNIST (scripts/setup.sh)"; exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# 1. A stand-in rlc that runs but reports nothing: the harness must say which line is missing.
printf '#!/bin/sh\necho "training..."\n' >"$tmp/mute-rlc"
chmod +x "$tmp/mute-rlc"
if RLC="$tmp/mute-rlc" "$here/bench/run.sh" --quick --out "$tmp/mute.md" >"$tmp/mute.log" 2>&1; then
  echo "FAIL: the harness accepted an rlc that printed no result line"; failed=1
elif ! grep -q "printed no line 'ae_b32: N steps, X ms/step'" "$tmp/mute.log"; then
  echo "FAIL: the harness's message does not name the missing line:"; sed 's/^/    /' "$tmp/mute.log"; failed=1
elif [ -e "$tmp/mute.md" ]; then
  echo "FAIL: the harness wrote results after a failed run"; failed=1
fi

# 2. The quick run, and the tables it must write.
mode=() want="| rlc | peer |"
if ! "$rlc" run --help >/dev/null 2>&1; then
  echo "note: $rlc has no run command yet; smoke-running the peers alone"
  mode=(--peers-only) want="| peer | peer stock |"
fi
if ! RLC="$rlc" "$here/bench/run.sh" --quick "${mode[@]}" --out "$tmp/quick.md" >"$tmp/quick.log" 2>&1; then
  echo "FAIL: bench/run.sh --quick ${mode[*]} failed:"; tail -n 20 "$tmp/quick.log" | sed 's/^/    /'; failed=1
else
  for w in ae_b32 ae_b256 dae_b32 dae_b256 simclr_b256 cnn_b64 simclr_cnn_b256; do
    grep -qE "^\| env \| 1 \| $w \| ms/step \|" "$tmp/quick.md" || { echo "FAIL: no table row for $w"; failed=1; }
  done
  [ "$(grep -cE '^\| env \| 1 \| sgns \| words/s \|' "$tmp/quick.md")" -eq 2 ] ||
    { echo "FAIL: sgns needs a row for each of gensim and PyTorch"; failed=1; }
  grep -qF "$want" "$tmp/quick.md" || { echo "FAIL: the table's header is not '$want'"; failed=1; }
  grep -qE '^\| [a-z_]+_env_t1 \| [0-9.]+ \| [0-9.]+ \|' "$tmp/quick.md" ||
    { echo "FAIL: no word-vector quality row"; failed=1; }
  grep -q 'machine: ' "$tmp/quick.md" || { echo "FAIL: no machine description"; failed=1; }
fi

[ $failed = 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $failed
