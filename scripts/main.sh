#!/usr/bin/env bash
# The main job: set up, build, check every example, then train the denoising
# auto-encoder on Fashion-MNIST (examples/denoising.rl) and evaluate it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
"$here/scripts/build.sh" release
export RL_DATA_PATH="$here/data${RL_DATA_PATH:+:$RL_DATA_PATH}"
for f in "$here"/examples/*.rl; do
  echo "== rlc check ${f#$here/}"
  "$here/build/rlc" check "$f"
done
echo "== rlc run examples/denoising.rl"
"$here/build/rlc" run "$here/examples/denoising.rl" "$@"
