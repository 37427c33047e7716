#!/usr/bin/env bash
# The main job: set up, build, and check every example.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
"$here/scripts/build.sh" release
export RL_DATA_PATH="$here/data${RL_DATA_PATH:+:$RL_DATA_PATH}"
for f in "$here"/examples/*.rl; do
  echo "== rlc check ${f#$here/}"
  "$here/build/rlc" check "$f"
done
