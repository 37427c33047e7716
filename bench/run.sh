#!/usr/bin/env bash
# bench/run.sh — rlc side by side with PyTorch and gensim on the same work (bench/README.md).
#
# CONTRACT WITH `rlc run` (assumed here; whoever finishes `rlc run` makes it true):
#   1. `rlc run FILE.rl --stage NAME --threads N` prints, when train stage NAME ends, a line
#          NAME: N steps, X ms/step
#      or, for a stage whose data is a skipgram dataset,
#          NAME: N steps, X ms/step, Y words/s
#      X = wall time of the stage's training loop (clock started before the first step, after the
#      data are loaded and the code is compiled; stopped after the last step) / N.
#      Y = in-vocabulary words of the epoch's corpus (min_count applied, before subsampling) / the
#      same wall time: the count the gensim and PyTorch peers divide by.
#   2. It prints `compile: X ms (..., Y ms CPU since rlc started, ...)` once, before any stage
#      trains: X the wall time from reading the file to every stage being ready to run (parse,
#      check, lower, autodiff, fuse, JIT), Y the process's CPU time to that point.
#   3. `save: "sgns.rlw"` writes the safetensors file with the word table as tensor `word.e`, and the
#      vocabulary beside it, one word per line in id order, in a file whose name starts with
#      `sgns` and contains `vocab`.
#   4. A trainer from `rlc build` reaches dnnl_sgemm (or, with RLC_GEMM=openblas, cblas_sgemm)
#      through the dynamic linker, so an LD_PRELOADed one stands in front (the roofline runs the
#      stage's trainer: `rlc` itself links OpenBLAS statically for its start-up time), and prints
#      the same line as in 1.
# The harness stops with a message naming the missing line when rlc does not keep this.
#
# usage: bench/run.sh [--quick] [--peers-only] [--reps N] [--threads "1 2"] [--out FILE]
#   --quick        1 repetition, 1 thread, few steps, 20 corpus files, peers stock only, one
#                  OpenBLAS setting, no install and no compile-time section (the smoke test: it
#                  checks that the harness works)
#   --peers-only   run the PyTorch/gensim peers alone
#   --only "W..."  only these workloads of 1-4, 7-9 (ae_b32 ae_b256 dae_b32 dae_b256 simclr_b256
#                  sgns cnn_b64 simclr_cnn_b256 gpt_b32); the roofline keeps the ones of them it covers
#   --reps N       repetitions of the ms/step workloads (default 5)
#   --sgns-reps N  repetitions of the skip-gram workload (default 3: one rlc run is ~20 s)
#   --peer-configs "stock tuned"   which peer configurations run (default: tuned only, to fit
#                  a full run in ~40 minutes on two cores; stock is a peer without the tunables)
#   --torch-sgns-files N  the PyTorch skip-gram peer trains on the first N of the 500 corpus
#                  files (default 50; at ~7k words/s the whole corpus takes 2-3 minutes a run)
#   --skip-compile / --skip-roofline   leave out workload 5 / 6
#   --raw-dir DIR  keep the raw figures (TSV, vectors) in DIR instead of a temporary folder
#   --settings "S..."  only these OpenBLAS settings (env, unset, skylakex: below)
#   --out FILE     where the results go (default bench/results.md; a section of it is replaced)
#   RLC=path       the rlc binary (default build/rlc)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bench="$here/bench"
py=/usr/bin/python3
quick=0 peers_only=0 reps=5 sgns_reps=3 tunes=1 only="" threads_list="1 2" out="$bench/results.md"
torch_sgns_files=50 skip_compile=0 skip_roofline=0 raw_dir="" only_settings=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 reps=1 sgns_reps=1 threads_list=1 tunes=0 ;;
    --peers-only) peers_only=1 ;;
    --reps) reps=$2; shift ;;
    --sgns-reps) sgns_reps=$2; shift ;;
    --peer-configs) tunes=$(echo "$2" | sed 's/stock/0/; s/tuned/1/'); shift ;;
    --torch-sgns-files) torch_sgns_files=$2; shift ;;
    --skip-compile) skip_compile=1 ;;
    --skip-roofline) skip_roofline=1 ;;
    --raw-dir) raw_dir=$2; shift ;;
    --settings) only_settings=$2; shift ;;
    --threads) threads_list=$2; shift ;;
    --out) out=$2; shift ;;
    --only) only=$2; shift ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "bench: unknown option '$1' (bench/run.sh --help)" >&2; exit 2 ;;
  esac
  shift
done
rlc=${RLC:-$here/build/rlc}
case $rlc in /*) ;; */*) rlc=$PWD/$rlc ;; esac  # the runs cd into their own folders

die() { echo "bench: $*" >&2; exit 1; }

# ---------------------------------------------------------------- set-up
if [ $quick = 0 ]; then
  "$here/scripts/setup.sh"
  if ! $py -c "import torch, gensim, numpy" 2>/dev/null; then
    echo "bench: installing python3-torch python3-gensim python3-numpy"
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
    $sudo_cmd apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q python3-torch python3-gensim python3-numpy
  fi
  [ $peers_only = 1 ] || [ -x "$rlc" ] || "$here/scripts/build.sh" release
fi
$py -c "import torch, gensim, numpy" 2>/dev/null ||
  die "$py cannot import torch, gensim and numpy (Debian: python3-torch python3-gensim python3-numpy)"
[ $peers_only = 1 ] || [ -x "$rlc" ] || die "no rlc at $rlc (build it: scripts/build.sh, or set RLC=)"
command -v gcc >/dev/null || die "gcc is needed to build the sgemm shim"

work=$(mktemp -d "${TMPDIR:-/tmp}/rlc-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
raw=${raw_dir:-$work/raw}; mkdir -p "$raw"

# Data: the corpus under data/ (or RL_DATA_PATH); --quick uses its first 20 files, both sides.
brown_dir=$(cd "$bench" && $py -c "import brown; print(brown.corpus_dir())") || exit 1
files_arg=() data_path="$(dirname "$brown_dir")"
if [ $quick = 1 ]; then
  mkdir -p "$work/data/brown"
  ls "$brown_dir" | grep -v '^\.' | sort | head -20 | while read -r f; do ln -s "$brown_dir/$f" "$work/data/brown/$f"; done
  files_arg=(--files 20) data_path="$work/data"
fi

# OpenBLAS settings: as the environment has them (env); with both variables unset (unset, only
# when the environment sets either); and with OPENBLAS_CORETYPE=SkylakeX (skylakex, on a CPU with
# AVX-512: a DYNAMIC_ARCH OpenBLAS that does not know the CPU model falls back to its SSE3
# `Prescott` kernels, and this picks its AVX-512 ones). Both sides always run under the same one.
settings=(env)
if [ $quick = 0 ]; then
  if [ -n "${OPENBLAS_CORETYPE+x}${OPENBLAS_L2_SIZE+x}" ]; then settings+=(unset); fi
  if grep -qw avx512f /proc/cpuinfo && [ "${OPENBLAS_CORETYPE:-}" != SkylakeX ]; then settings+=(skylakex); fi
fi
if [ -n "$only_settings" ]; then
  keep=(); for st in "${settings[@]}"; do [[ " $only_settings " == *" $st "* ]] && keep+=("$st"); done
  [ ${#keep[@]} -gt 0 ] || die "none of the settings '$only_settings' applies here (${settings[*]})"
  settings=("${keep[@]}")
fi
blas_env() {  # SETTING -> the `env` arguments that make it
  case "$1" in
    env) echo "" ;;
    unset) echo "-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE" ;;
    skylakex) echo "OPENBLAS_CORETYPE=SkylakeX" ;;
  esac
}
tuned=(GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296
       OMP_WAIT_POLICY=passive)

# ---------------------------------------------------------------- one run of each side
# Each prints the measured value (ms/step, or words/s for the skip-gram workload) on stdout.

# run_rlc SETTING THREADS RL STAGE STEPS [PRELOAD]  (STEPS empty: the file's own)
run_rlc() {
  local setting=$1 t=$2 rl=$3 stage=$4 steps=$5 preload=${6:-} dir log line
  dir=$(mktemp -d "$work/rlc.XXXX"); log="$dir/log"
  if [ -n "$steps" ]; then  # the stage's `steps:` set to STEPS in a copy of the program
    awk -v s="$stage" -v n="$steps" '
      $1 == "train" && $2 == s { inside = 1 }
      inside && $1 == "steps:" { sub(/steps:[ \t]*[0-9]+/, "steps: " n) }
      inside && /^}/ { inside = 0 }
      { print }' "$bench/$rl" >"$dir/$rl"
  else
    cp "$bench/$rl" "$dir/$rl"
  fi
  local cmd=("$rlc" run "$rl")
  if [ -n "$preload" ]; then  # contract item 4: the stage's trainer, with the shim in front
    (cd "$dir" && RL_DATA_PATH="$data_path" "$rlc" build "$rl" -o trainer >"$log" 2>&1) ||
      die "\`rlc build bench/$rl\` failed (exit $?):
$(tail -n 15 "$log")"
    cmd=(./trainer)
  fi
  (cd "$dir" && env $(blas_env "$setting") OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
      RL_DATA_PATH="$data_path" ${preload:+LD_PRELOAD=$preload SGEMM_LOG=$dir/sgemm.log CONV_LOG=$dir/conv.log} \
      "${cmd[@]}" --stage "$stage" --threads "$t" >"$log" 2>&1) ||
    die "\`rlc run bench/$rl --stage $stage --threads $t\` failed (exit $?):
$(tail -n 15 "$log")"
  line=$(grep -E "^$stage: [0-9]+ steps, [0-9.eE+-]+ ms/step" "$log" | tail -n 1) ||
    die "\`rlc run bench/$rl --stage $stage\` printed no line '$stage: N steps, X ms/step' (the
contract at the top of bench/run.sh). Its last output:
$(tail -n 15 "$log")"
  if [ "$rl" = sgns.rl ]; then
    [[ $line =~ ,\ ([0-9.eE+-]+)\ words/s ]] ||
      die "rlc's line '$line' has no ', Y words/s' (the contract at the top of bench/run.sh)"
    echo "${BASH_REMATCH[1]}"
  else
    [[ $line =~ ,\ ([0-9.eE+-]+)\ ms/step ]]; echo "${BASH_REMATCH[1]}"
  fi
  echo "$dir" >"$work/last_rlc_dir"  # the caller runs this in $(...): the run's folder, for it
}

# run_peer SETTING THREADS TUNED(0|1) SCRIPT ARGS...
run_peer() {
  local setting=$1 t=$2 tune=$3 script=$4 log; shift 4
  log=$(mktemp "$work/peer.XXXX")
  (cd "$bench" && env $(blas_env "$setting") OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
      $([ "$tune" = 1 ] && echo "${tuned[@]}") "$py" "$script" --threads "$t" "$@" >"$log" 2>&1) ||
    die "\`$script --threads $t $*\` failed:
$(tail -n 15 "$log")"
  grep -oE '(ms_per_step|words_per_s)=[0-9.]+' "$log" | tail -n 1 | cut -d= -f2 | grep . ||
    die "$script printed no ms_per_step= or words_per_s= line: $(tail -n 5 "$log")"
}

# ---------------------------------------------------------------- workloads 1-4
# name | rl file | stage | steps (full, quick) | peer script and arguments (by name: torch, gensim, torch_sgns)
# Steps are few enough for a full run to fit in ~40 minutes on two cores (each run still takes
# seconds: the per-step figure is stable to a few percent at these counts, bench/README.md).
workloads=(
  "ae_b32|ae.rl|ae_b32|200|20|torch:torch_ae.py --batch 32"
  "ae_b256|ae.rl|ae_b256|50|10|torch:torch_ae.py --batch 256"
  "dae_b32|dae.rl|dae_b32|200|20|torch:torch_ae.py --batch 32 --keep 0.7"
  "dae_b256|dae.rl|dae_b256|50|10|torch:torch_ae.py --batch 256 --keep 0.7"
  "simclr_b256|simclr.rl|simclr_b256|25|5|torch:torch_simclr.py --batch 256"
  "cnn_b64|cnn.rl|cnn_b64|100|10|torch:torch_cnn.py --batch 64"
  "simclr_cnn_b256|simclr_cnn.rl|simclr_cnn_b256|20|3|torch:torch_simclr_cnn.py --batch 256"
  "gpt_b32|gpt.rl|gpt_b32|20|3|torch:torch_gpt.py --batch 32"
  "sgns|sgns.rl|sgns|||gensim:gensim_w2v.py;torch_sgns:torch_sgns.py"
)

echo "bench: results go to $out; raw figures in $raw while it runs"
for setting in "${settings[@]}"; do
  for t in $threads_list; do
    for w in "${workloads[@]}"; do
      IFS='|' read -r name rl stage full_steps quick_steps peers <<<"$w"
      [ -z "$only" ] || [[ " $only " == *" $name "* ]] || continue
      steps=$full_steps; [ $quick = 1 ] && steps=$quick_steps
      n=$reps; [ "$name" = sgns ] && n=$sgns_reps
      for rep in $(seq 1 "$n"); do
        printf '%s\t%s\t%s\t%s\t%s\n' "$setting" "$t" "$name" "$rep" "$(cut -d' ' -f1 /proc/loadavg)" >>"$raw/load.tsv"
        if [ $peers_only = 0 ]; then
          v=$(run_rlc "$setting" "$t" "$rl" "$stage" "$steps")
          printf '%s\t%s\t%s\trlc\tstock\t%s\t%s\n' "$setting" "$t" "$name" "$rep" "$v" >>"$raw/runs.tsv"
          echo "  $setting t=$t $name #$rep rlc $v"
          if [ "$name" = sgns ] && [ "$rep" = 1 ]; then  # its vectors, for the quality check
            last_rlc_dir=$(cat "$work/last_rlc_dir")
            vocab=$(ls "$last_rlc_dir" | grep -E '^sgns.*vocab' | head -n 1) ||
              die "rlc wrote no sgns*vocab* file beside sgns.rlw (the contract at the top of bench/run.sh)"
            "$py" "$bench/rlw2txt.py" "$last_rlc_dir/sgns.rlw" word.e "$last_rlc_dir/$vocab" \
              "$raw/vec_rlc_${setting}_t$t.txt"
          fi
        fi
        IFS=';' read -ra plist <<<"$peers"
        for p in "${plist[@]}"; do
          pname=${p%%:*} pcmd=${p#*:}
          read -ra pargs <<<"$pcmd"
          if [ "$name" = sgns ]; then
            if [ $quick = 0 ] && [ "$pname" = torch_sgns ]; then
              pargs+=(--files "$torch_sgns_files")
            else
              pargs+=("${files_arg[@]}")
            fi
          fi
          [ -n "$steps" ] && pargs+=(--steps "$steps")
          first=1
          for tune in $tunes; do
            extra=()
            if [ "$name" = sgns ] && [ "$rep" = 1 ] && [ $first = 1 ]; then
              extra=(--out "$raw/vec_${pname}_${setting}_t$t.txt")
            fi
            first=0
            v=$(run_peer "$setting" "$t" "$tune" "${pargs[@]}" "${extra[@]}")
            cfg=stock; [ $tune = 1 ] && cfg=tuned
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setting" "$t" "$name" "$pname" "$cfg" "$rep" "$v" >>"$raw/runs.tsv"
            echo "  $setting t=$t $name #$rep $pname $cfg $v"
          done
        done
      done
    done
  done
done

# Word-vector quality on the vectors of the first repetition at each thread count.
for f in "$raw"/vec_*.txt; do
  [ -e "$f" ] || continue
  q=$(cd "$bench" && RL_DATA_PATH="$data_path" "$py" w2v_quality.py "$f")
  printf '%s\t%s\n' "$(basename "$f" .txt)" "$q" >>"$raw/quality.tsv"
done

# ---------------------------------------------------------------- workload 5: compile time
# Each example three times with its own empty object cache: a 1-epoch run (the first compile,
# every step module a cache miss, and its share of the run), then two runs of one step (every
# module from the cache). rlc's compile line gives the wall time from reading the file to ready
# and the process's CPU time to ready (start-up included): on a loaded machine the CPU figure is
# the one to compare.
if [ $peers_only = 0 ] && [ $quick = 0 ] && [ $skip_compile = 0 ]; then
  compile_line() {  # LOG -> "WALL CPU HITS" of its compile line
    local l; l=$(grep -E '^compile: [0-9.]+ ms' "$1" | head -n 1) ||
      die "\`rlc run\` printed no 'compile: X ms' line (contract at the top of bench/run.sh): $(tail -n 5 "$1")"
    [[ $l =~ ^compile:\ ([0-9.]+)\ ms.*\ ([0-9.]+)\ ms\ CPU ]] ||
      die "rlc's compile line '$l' has no 'Y ms CPU since rlc started'"
    local wall=${BASH_REMATCH[1]} cpu=${BASH_REMATCH[2]} hits=0
    [[ $l =~ ([0-9]+)\ of\ [0-9]+\ steps\ from\ the\ cache ]] && hits=${BASH_REMATCH[1]}
    echo "$wall $cpu $hits"
  }
  for ex in "$here"/examples/*.rl; do
    dir=$(mktemp -d "$work/ex.XXXX"); cp "$ex" "$dir/"
    t0=$(date +%s%N)
    (cd "$dir" && XDG_CACHE_HOME="$dir/cache" RL_DATA_PATH="$data_path" OPENBLAS_NUM_THREADS=1 \
        "$rlc" run "$(basename "$ex")" --epochs 1 --threads 1 >"$dir/log" 2>&1) ||
      die "\`rlc run examples/$(basename "$ex") --epochs 1\` failed: $(tail -n 15 "$dir/log")"
    wall=$(( ($(date +%s%N) - t0) / 1000000 ))
    read -r c cpu _ <<<"$(compile_line "$dir/log")"
    cached=()
    for again in 1 2; do
      (cd "$dir" && XDG_CACHE_HOME="$dir/cache" RL_DATA_PATH="$data_path" OPENBLAS_NUM_THREADS=1 \
          "$rlc" run "$(basename "$ex")" --steps 1 --threads 1 >"$dir/log$again" 2>&1) ||
        die "\`rlc run examples/$(basename "$ex") --steps 1\` failed: $(tail -n 15 "$dir/log$again")"
      cached+=("$(compile_line "$dir/log$again")")
    done
    read -r c2 cpu2 _ <<<"${cached[1]}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(basename "$ex")" "$c" "$wall" "$cpu" "$c2" "$cpu2" \
      "$(cut -d' ' -f1 /proc/loadavg)" >>"$raw/compile.tsv"
    echo "  compile $(basename "$ex") first ${c} ms (${cpu} ms CPU) of ${wall} ms, cached ${c2} ms (${cpu2} ms CPU)"
  done
fi

# ---------------------------------------------------------------- workload 6: roofline
if [ $peers_only = 0 ] && [ $skip_roofline = 0 ]; then
  gcc -O2 -std=c11 -shared -fPIC "$bench/sgemm_shim.c" -o "$work/sgemm_shim.so" -ldl -lpthread
  gcc -O2 -std=c11 "$bench/sgemm_alone.c" -o "$work/sgemm_alone" -lopenblas -ldnnl -lgomp
  for setting in "${settings[@]}"; do
    for t in $threads_list; do
      for w in "ae_b32|ae.rl|200|20" "ae_b256|ae.rl|50|10" "simclr_b256|simclr.rl|25|5" \
               "cnn_b64|cnn.rl|100|10" "simclr_cnn_b256|simclr_cnn.rl|20|3" "gpt_b32|gpt.rl|60|3"; do
        IFS='|' read -r stage rl full_steps quick_steps <<<"$w"
        [ -z "$only" ] || [[ " $only " == *" $stage "* ]] || continue
        steps=$full_steps; [ $quick = 1 ] && steps=$quick_steps
        ms=$(run_rlc "$setting" "$t" "$rl" "$stage" "$steps" "$work/sgemm_shim.so")
        last_rlc_dir=$(cat "$work/last_rlc_dir")
        [ -s "$last_rlc_dir/sgemm.log" ] ||
          die "no sgemm call of bench/$rl's trainer (stage $stage) went through the shim (contract item 4)"
        grep -v '^#' "$last_rlc_dir/sgemm.log" | while read -r o ta tb m n k calls secs; do
          g=$(env $(blas_env "$setting") "$work/sgemm_alone" "$o" "$ta" "$tb" "$m" "$n" "$k" "$t" | cut -d= -f2)
          printf '%s\t%s\t%s\t%s\t%s\t%s %s %s %s %s %s\t%s\t%s\t%s\n' "$setting" "$t" "$stage" "$steps" \
            "$ms" "$o" "$ta" "$tb" "$m" "$n" "$k" "$calls" "$secs" "$g" >>"$raw/sgemm.tsv"
        done
        # each convolution beside the sgemm of its product on columns (M N K of the direction)
        [ -s "$last_rlc_dir/conv.log" ] && grep -v '^#' "$last_rlc_dir/conv.log" |
          while read -r what dir n c h w o kh kw oh ow calls secs; do
            ckk=$((c * kh * kw)) pix=$((n * oh * ow)); g=-
            case $dir in
              fwd) shape="101 111 111 $o $pix $ckk" ;;
              bwd_weights) shape="101 111 112 $o $ckk $pix" ;;
              bwd_data) shape="101 112 111 $ckk $pix $o" ;;
              *) shape="" ;;
            esac
            [ -n "$shape" ] && g=$(env $(blas_env "$setting") "$work/sgemm_alone" $shape "$t" | cut -d= -f2)
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setting" "$t" "$stage" "$steps" "$ms" \
              "$what $dir" "$n $c $h $w $o $kh $kw $oh $ow" "$calls" "$secs" "$g" >>"$raw/conv.tsv"
          done
        echo "  roofline $setting t=$t $stage done"
      done
    done
  done
fi

# ---------------------------------------------------------------- the tables
mode=full; [ $peers_only = 1 ] && mode=peers-only; [ $quick = 1 ] && mode="$mode quick"
BENCH_STEPS=$(for w in "${workloads[@]}"; do IFS='|' read -r name _ _ fs qs _ <<<"$w"
  if [ -n "$fs" ]; then printf '%s %s, ' "$name" "$([ $quick = 1 ] && echo "$qs" || echo "$fs")"; fi; done | sed 's/, $//') \
  BENCH_SETTINGS="${settings[*]}" BENCH_REPS=$reps BENCH_SGNS_REPS=$sgns_reps BENCH_THREADS="$threads_list" \
  BENCH_PEER_CONFIGS="$(echo "$tunes" | sed 's/0/stock/; s/1/tuned/')" BENCH_TORCH_SGNS_FILES=$torch_sgns_files \
  "$py" "$bench/table.py" --raw "$raw" --out "$out" --mode "$mode"
