#!/bin/sh
# Data-parallel training under Open MPI (docs/mpi.md): `mpirun -np 2 rlc run` trains an
# auto-encoder (dropout and Gaussian noise drawn per example), SimCLR (nt_xent across the global
# batch) and a batch_norm CNN (batch statistics across the processes) for 32 steps each, with
# sgd and with adam, and an MLP whose gradients go in several buckets (adam), and ends with the
# parameters of the one-process run (compare.py: per
# tensor max |a - b| / max |a| <= 1e-4); an epoch's last batch is partial (60 examples, batch 8).
# A trainer built with `rlc build --procs 2` does the same under mpirun; gradients through the
# collectives pass `rlc gradcheck` under mpirun; a batch that 2 does not divide, and a trainer
# built for 1 process run by 2, are errors that say so (status 1); the all-reduces through the
# shared-memory window and through MPI (RLC_MPI_SHM=0) give the same parameters, bit for bit; a process killed with SIGKILL
# ends the job with a message naming its rank; --resume continues a killed run exactly.
# With RLC_MPI_SLICED=1, through shared memory each process updates only its slice of the
# parameters and optimizer state, one copy of which the processes share (docs/mpi.md, "Sliced
# updates"): a slice updated
# twice or never fails the comparisons with the one-process run, and a resume that lost the
# other process's slice of Adam's state fails the bit-for-bit resume check. The interpreter
# (--interp) slices its updates the same way.
# usage: run.sh RLC
set -u
RLC=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v mpirun >/dev/null 2>&1; then
    echo "mpirun is missing (scripts/setup.sh installs openmpi-bin): skipped"
    exit 77
fi
# Open MPI's plugins leave allocations behind at exit (in modules already unloaded, so no
# suppression can name them): leak checks stay on for the one-process runs only.
# Sliced updates (off by default) in every two-process run but the one that compares without them.
export RLC_MPI_SLICED=1
MPIRUN="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 mpirun -np 2 --allow-run-as-root --oversubscribe -x RLC_MPI_SLICED"
T=$(mktemp -d "${TMPDIR:-/tmp}/rlc-mpi.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
# 61 rows: a header and 60 examples (csv skips the first row)
awk 'BEGIN { srand(7); for (i = 0; i < 61; i++) { for (j = 0; j < 32; j++) printf "%s%.3f", j ? "," : "", rand(); printf "\n" } }' > x.csv
awk 'BEGIN { srand(9); for (i = 0; i < 61; i++) { for (j = 0; j < 32; j++) printf "%s%.3f", j ? "," : "", 2 * rand() - 1; printf "\n" } }' > xc.csv
awk 'BEGIN { srand(8); for (i = 0; i < 61; i++) printf "%d\n", int(rand() * 3) }' > y.csv

cat > ae.rl <<'RL'
use std.nn
use std.loss

dataset d {
    x: [32] = csv("x.csv", columns = 32)
}

encoder enc(x: [B, 32]) -> [B, 8] = tanh(dense(relu(dense(x, 24)), 8))
decoder dec(z: [B, 8]) -> [B, 32] = sigmoid(dense(z, 32))

train with_sgd {
    data:      d
    batch:     8
    steps:     32
    optimizer: sgd(lr = 0.5, momentum = 0.9)
    save:      "sgd.rlw"
    minimize mse(dec(enc(dropout(x, 0.25))), x)
}

train with_adam {
    data:      d
    batch:     8
    steps:     32
    optimizer: adam(lr = 0.01)
    save:      "adam.rlw"
    minimize mse(dec(enc(x + normal(0, 0.1, [B, 32]))), x)
}
RL
cat > simclr.rl <<'RL'
use std.nn
use std.loss

dataset d {
    x: [32] = csv("x.csv", columns = 32)
}

encoder enc(x: [B, 32]) -> [B, 16] = relu(dense(x, 16))
decoder proj(h: [B, 16]) -> [B, 8] = dense(relu(dense(h, 16)), 8)

train with_sgd {
    data:      d
    batch:     8
    steps:     32
    optimizer: sgd(lr = 0.02, momentum = 0.5)
    save:      "sgd.rlw"
    minimize nt_xent(proj(enc(dropout(x, 0.2))), proj(enc(x + normal(0, 0.1, [B, 32]))), tau = 0.5)
}

train with_adam {
    data:      d
    batch:     8
    steps:     32
    optimizer: adam(lr = 0.002)
    save:      "adam.rlw"
    minimize nt_xent(proj(enc(dropout(x, 0.2))), proj(enc(x + normal(0, 0.1, [B, 32]))), tau = 0.5)
}
RL
cat > bn.rl <<'RL'
use std.nn
use std.loss

dataset d {
    x: [2, 4, 4] = csv("xc.csv", columns = 32)
    y: i32 = csv("y.csv", columns = 1)
}

encoder enc(x: [B, 2, 4, 4]) -> [B, 6] {
    h = max_pool2d(batch_norm(relu(conv(x, 3, 3, padding = 1))), 2)
    return batch_norm(relu(dense(reshape(h, [B, 12]), 6)), momentum = 0.2)
}

train with_sgd {
    data:      d
    batch:     8
    steps:     32
    optimizer: sgd(lr = 0.05, momentum = 0.5)
    save:      "sgd.rlw"
    minimize cross_entropy(dense(enc(x), 3), y)
}

train with_adam {
    data:      d
    batch:     8
    steps:     32
    optimizer: adam(lr = 0.002)
    save:      "adam.rlw"
    minimize cross_entropy(dense(enc(x), 3), y)
}
RL
# Gradients over 1 MiB, so they go over the processes in several buckets (docs/mpi.md).
cat > wide.rl <<'RL'
use std.nn
use std.loss

dataset d {
    x: [32] = csv("x.csv", columns = 32)
}

encoder enc(x: [B, 32]) -> [B, 8] = dense(relu(dense(relu(dense(x, 512)), 512)), 8)

train with_adam {
    data:      d
    batch:     8
    steps:     32
    optimizer: adam(lr = 0.001)
    save:      "adam.rlw"
    minimize mse(enc(x), x[:, 0:8])
}
RL

fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# Each stage alone (a fresh parameter store), in its own folder per process count.
for p in ae simclr bn wide; do
    for opt in sgd adam; do
        grep -q "^train with_$opt" "$p.rl" || continue
        mkdir -p "one/$p" "two/$p"
        (cd "one/$p" && "$RLC" run "$T/$p.rl" --stage "with_$opt" --threads 1 --quiet > out.txt 2>&1) ||
            fail "$p $opt: one process: $(cat "one/$p/out.txt")"
        (cd "two/$p" && $MPIRUN "$RLC" run "$T/$p.rl" --stage "with_$opt" --threads 1 --quiet > out.txt 2>&1) ||
            fail "$p $opt: two processes: $(cat "two/$p/out.txt")"
        if r=$(python3 "$HERE/compare.py" "one/$p/$opt.rlw" "two/$p/$opt.rlw" 1e-4 2>&1); then
            echo "ok   $p $opt: $r"
        else
            fail "$p $opt: $r"
        fi
    done
done

# All processes on one node: the all-reduces read each other's buckets in a shared-memory
# window; RLC_MPI_SHM=0 sends them through MPI instead (the path across nodes). Both add every
# element in rank order, so the parameters are the same bits.
for p in wide; do
    grep -q "all-reduces through shared memory; each updates its slice of the parameters" "two/$p/out.txt" ||
        fail "$p: the all-reduces and updates did not go through shared memory: $(cat "two/$p/out.txt")"
    mkdir -p "mpi/$p"
    (cd "mpi/$p" && RLC_MPI_SHM=0 $MPIRUN -x RLC_MPI_SHM "$RLC" run "$T/$p.rl" --stage with_adam --threads 1 --quiet \
        > out.txt 2>&1) || fail "$p through MPI: $(cat "mpi/$p/out.txt")"
    grep -q "all-reduces through MPI)" "mpi/$p/out.txt" || fail "RLC_MPI_SHM=0 did not turn the window off: $(cat "mpi/$p/out.txt")"
    if r=$(python3 "$HERE/compare.py" "two/$p/adam.rlw" "mpi/$p/adam.rlw" 0 2>&1); then
        echo "ok   $p adam through shared memory and through MPI: $r"
    else
        fail "$p adam through shared memory and through MPI: $r"
    fi
    # RLC_MPI_SLICED=0 (the default): the window's all-reduces, every process updating all of its own copy
    mkdir -p "whole/$p"
    (cd "whole/$p" && RLC_MPI_SLICED=0 $MPIRUN "$RLC" run "$T/$p.rl" --stage with_adam --threads 1 \
        --quiet > out.txt 2>&1) || fail "$p with RLC_MPI_SLICED=0: $(cat "whole/$p/out.txt")"
    grep -q "all-reduces through shared memory)" "whole/$p/out.txt" ||
        fail "RLC_MPI_SLICED=0 did not turn the sliced updates off: $(cat "whole/$p/out.txt")"
    if r=$(python3 "$HERE/compare.py" "two/$p/adam.rlw" "whole/$p/adam.rlw" 0 2>&1); then
        echo "ok   $p adam with sliced updates and without: $r"
    else
        fail "$p adam with sliced updates and without: $r"
    fi
    # at 2 threads a slice's update is split over the pool (rt_parallel_slice)
    for sliced in 0 1; do
        mkdir -p "threads$sliced/$p"
        (cd "threads$sliced/$p" && RLC_MPI_SLICED=$sliced $MPIRUN "$RLC" run "$T/$p.rl" --stage with_adam --threads 2 \
            --quiet > out.txt 2>&1) || fail "$p at 2 threads, RLC_MPI_SLICED=$sliced: $(cat "threads$sliced/$p/out.txt")"
    done
    if r=$(python3 "$HERE/compare.py" "threads0/$p/adam.rlw" "threads1/$p/adam.rlw" 0 2>&1); then
        echo "ok   $p adam at 2 threads with sliced updates and without: $r"
    else
        fail "$p adam at 2 threads with sliced updates and without: $r"
    fi
done

# The interpreter under mpirun updates its slices too (its own fences and bounds).
mkdir -p interp
(cd interp && $MPIRUN "$RLC" run "$T/ae.rl" --stage with_adam --interp --threads 1 --quiet > out.txt 2>&1) ||
    fail "--interp under mpirun: $(cat interp/out.txt)"
if r=$(python3 "$HERE/compare.py" one/ae/adam.rlw interp/adam.rlw 1e-4 2>&1); then
    echo "ok   ae adam in the interpreter under mpirun: $r"
else
    fail "ae adam in the interpreter under mpirun: $r"
fi

# The collectives in the dumps: nt_xent's similarities from this process's rows and every
# process's columns, its partner ids and mask sharded, the mean loss and gradients all-reduced.
"$RLC" dump --ir --procs 2 simclr.rl --stage with_sgd > ir.txt 2>&1 || fail "dump --ir --procs 2: $(cat ir.txt)"
for op in "allgather %" "shard %" "allreduce %" "procs 2"; do
    grep -q "$op" ir.txt || fail "dump --ir --procs 2 shows no '$op'"
done
"$RLC" dump --kernels --procs 2 simclr.rl --stage with_sgd > kernels.txt 2>&1
grep -q "collective n[0-9]* .*allreduce" kernels.txt || fail "dump --kernels --procs 2 shows no collective kernel"
# The wide model's gradients in buckets: each all-reduce starts as soon as its gradients exist
# (the first one before the backward pass's last product) and is waited for before its sums' reader.
"$RLC" dump --kernels --procs 2 wide.rl --stage with_adam > wide.txt 2>&1 || fail "dump --kernels of wide.rl: $(cat wide.txt)"
waits=$(grep -c "^k[0-9]* collective_wait " wide.txt)
[ "$waits" -ge 4 ] || fail "wide.rl: $waits all-reduce waits, expected the loss's and 3 buckets: $(cat wide.txt)"
first_start=$(grep -m1 -n "^k[0-9]* collective .*allreduce" wide.txt | cut -d: -f1)
last_sgemm=$(grep -n "^k[0-9]* sgemm " wide.txt | tail -1 | cut -d: -f1)
[ "${first_start:-0}" -lt "${last_sgemm:-0}" ] ||
    fail "wide.rl: no all-reduce starts before the last product (line $first_start, $last_sgemm)"

# The gradients through the collectives, in the interpreter's doubles.
for p in simclr bn; do
    $MPIRUN "$RLC" gradcheck "$p.rl" > gc.txt 2>&1 || fail "gradcheck of $p under mpirun: $(cat gc.txt)"
done

# A standalone trainer for two processes.
if "$RLC" build ae.rl --procs 2 -o ae2 --quiet > build.txt 2>&1; then
    mkdir -p built && (cd built && $MPIRUN ../ae2 --stage with_adam --threads 1 --quiet > out.txt 2>&1) ||
        fail "trainer under mpirun: $(cat built/out.txt)"
    if r=$(python3 "$HERE/compare.py" one/ae/adam.rlw built/adam.rlw 1e-4 2>&1); then
        echo "ok   built trainer: $r"
    else
        fail "built trainer: $r"
    fi
else
    fail "rlc build --procs 2: $(cat build.txt)"
fi

# Errors that name what is wrong, with status 1.
sed 's/batch:     8/batch:     7/' ae.rl > odd.rl
$MPIRUN "$RLC" run odd.rl --stage with_sgd --quiet > odd.txt 2>&1
status=$?
if [ $status -eq 0 ] || ! grep -q "batch 7 is not a multiple of the 2 processes" odd.txt; then
    fail "batch 7 over 2 processes (status $status): $(cat odd.txt)"
fi
if "$RLC" build ae.rl -o ae1 --quiet > build1.txt 2>&1; then
    $MPIRUN ./ae1 --stage with_sgd --quiet > one_for_two.txt 2>&1
    status=$?
    if [ $status -eq 0 ] || ! grep -q "compiled for 1 process but runs in 2" one_for_two.txt; then
        fail "a one-process trainer under mpirun -np 2 (status $status): $(cat one_for_two.txt)"
    fi
else
    fail "rlc build: $(cat build1.txt)"
fi

# A process that dies (SIGKILL) stops the others with a message naming its rank, never a hang:
# Open MPI's mpirun ends the job when a process of it exits on a signal.
sed 's/steps:     32/steps:     1000000/' ae.rl > long.rl
$MPIRUN "$RLC" run long.rl --stage with_adam --threads 1 --quiet > killed.txt 2>&1 &
job=$!
victim=""
for _ in $(seq 1 300); do
    for pid in $(ps -o pid= --ppid $job 2>/dev/null); do
        if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" &&
           grep -q "long.rl" "/proc/$pid/cmdline" 2>/dev/null; then
            victim=$pid
        fi
    done
    [ -n "$victim" ] && break
    sleep 0.1
done
if [ -z "$victim" ]; then
    fail "no process of rank 1 found to kill"
    kill $job 2>/dev/null
else
    sleep 1
    kill -9 "$victim"
fi
wait $job
status=$?
if [ $status -eq 0 ] || ! grep -q "rank 1" killed.txt; then
    fail "rank 1 killed (status $status): $(cat killed.txt)"
fi

# --resume under mpirun: a run whose rank 1 is killed after a save inside it continues from that
# save and ends with the parameters of an uninterrupted two-process run, bit for bit (when the
# run finished before the kill, --resume skips it and the files are the same too).
sed 's/steps:     32/steps:     3000\n    save_every: 100/' ae.rl > resume.rl
mkdir -p whole cut
(cd whole && $MPIRUN "$RLC" run ../resume.rl --stage with_adam --threads 1 --quiet > out.txt 2>&1) ||
    fail "uninterrupted run: $(cat whole/out.txt)"
(cd cut && exec $MPIRUN "$RLC" run ../resume.rl --stage with_adam --threads 1 --quiet > out.txt 2>&1) &
job=$!
for _ in $(seq 1 600); do
    [ -f cut/adam.rlw ] && break
    sleep 0.05
done
for pid in $(ps -o pid= --ppid $job 2>/dev/null); do
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && kill -9 "$pid"
done
wait $job
(cd cut && $MPIRUN "$RLC" run ../resume.rl --stage with_adam --threads 1 --resume > resumed.txt 2>&1) ||
    fail "--resume under mpirun: $(cat cut/resumed.txt)"
if r=$(python3 "$HERE/compare.py" whole/adam.rlw cut/adam.rlw 0 2>&1); then
    echo "ok   resumed under mpirun: $(grep -o "resuming from [^ ]* at step [0-9]*\|already finished" cut/resumed.txt | head -1); $r"
else
    fail "resumed under mpirun: $r"
fi

[ $fails -eq 0 ] && echo "all mpi checks passed"
[ $fails -eq 0 ]
