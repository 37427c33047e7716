#!/usr/bin/python3
"""Data-parallel scaling of rlc under Open MPI (docs/mpi.md), on this machine.

usage: mpi_scaling.py RLC [STEPS]

Runs bench/ae.rl's ae_b256 (the MLP auto-encoder at global batch 256, Adam) for STEPS steps
(default 200) as 1 process x 1 thread, 1 process x 2 threads and `mpirun -np 2` x 1 thread (the
all-reduces through the shared-memory window, every process updating all the parameters; the same
with each process updating its slice of one shared copy, RLC_MPI_SLICED=1; and through MPI with
RLC_MPI_SHM=0), prints each
one's ms/step (the trainer's own figure: filling the batch and the step), the speed-up over 1 x 1
and the time in collectives per step, and for 1 x 1 and 2 x 1 through the window the CPU time a
step (user + sys of every process, mpirun's included, of a run of max(STEPS, 600) steps minus
that of a 100-step run, so that start-up and compiling cancel: what a loaded machine inflates
less than wall time); then measures rlc's all-reduce (bench/allreduce.c,
rt_collective) per size at 2 processes, through MPI and through the window, beside Open MPI's own
collectives of the same bytes, fits t = a + S b to rlc's through MPI (the path between nodes,
which the projection is about), and projects the
efficiency at 8 and 64 processes for the AE and for a GPT-sized model (124 M parameters, as
GPT-2 small; its step time from its FLOPs at the AE's measured FLOP rate). The projection
assumes a ring all-reduce, t(N, S) = 2 (N - 1) a/2 + 2 (N - 1)/N S b, compute that splits evenly
(T1/N), and nothing overlapped (a lower bound: the steps overlap each gradient bucket's
all-reduce with the rest of the backward pass): efficiency = T1 / (T1 + N t(N, S)).
"""
import os
import re
import resource
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np"]


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout}{p.stderr}")
    return p.stdout


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ae_cpu(rlc, steps, procs):
    """CPU ms a step of ae_b256 at procs x 1 thread (the window's path): all processes, a
    max(steps, 600)-step run minus a 100-step run (start-up, data loading and compiling cancel)."""
    spent = []
    runs = (max(steps, 600), 100)
    for n in runs:
        before = children_cpu()
        ae(rlc, n, procs, 1)
        spent.append(children_cpu() - before)
    return 1e3 * (spent[0] - spent[1]) / (runs[0] - runs[1])


def ae(rlc, steps, procs, threads, shared_memory=True, sliced=False):
    cmd = [rlc, "run", os.path.join(HERE, "ae.rl"), "--stage", "ae_b256", "--steps", str(steps),
           "--threads", str(threads), "--quiet"]
    env = dict(os.environ, RLC_MPI_SHM="1" if shared_memory else "0", RLC_MPI_SLICED="1" if sliced else "0")
    if procs > 1:
        cmd = MPIRUN + [str(procs), "-x", "RLC_MPI_SHM", "-x", "RLC_MPI_SLICED"] + cmd
    out = run(cmd, env)
    m = re.search(r"ae_b256: \d+ steps, ([0-9.]+) ms/step(?:, \d+ processes, ([0-9.]+) ms/step in "
                  r"collectives \(([0-9]+) bytes/step[;)])?", out)
    if not m:
        raise SystemExit(f"no speed line in:\n{out}")
    return float(m.group(1)), float(m.group(2) or 0), float(m.group(3) or 0)


def main():
    if len(sys.argv) < 2:
        raise SystemExit("usage: mpi_scaling.py RLC [STEPS]")
    rlc = os.path.abspath(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with open("/proc/loadavg") as f:
        print(f"load average before: {f.read().split()[0]}  ({os.cpu_count()} cores)")
    work = tempfile.mkdtemp(prefix="rlc-mpi-bench.")
    os.chdir(work)
    one, _, _ = ae(rlc, steps, 1, 1)
    two_threads, _, _ = ae(rlc, steps, 1, 2)
    two_procs, coll, coll_bytes = ae(rlc, steps, 2, 1)
    two_procs_sliced, coll_sliced, _ = ae(rlc, steps, 2, 1, sliced=True)
    two_procs_mpi, coll_mpi, _ = ae(rlc, steps, 2, 1, shared_memory=False)
    cpu_one, cpu_two = ae_cpu(rlc, steps, 1), ae_cpu(rlc, steps, 2)
    print(f"\nAE, global batch 256, {steps} steps (ms/step):")
    print(f"  1 process  x 1 thread   {one:8.3f}")
    print(f"  1 process  x 2 threads  {two_threads:8.3f}   speed-up {one / two_threads:.2f}x")
    print(f"  2 processes x 1 thread  {two_procs:8.3f}   speed-up {one / two_procs:.2f}x, "
          f"{coll:.3f} ms/step in collectives ({coll_bytes / 1e6:.2f} MB/step all-reduced or gathered)")
    print(f"  2 processes x 1 thread, each updating its slice (RLC_MPI_SLICED=1)  {two_procs_sliced:8.3f}   "
          f"speed-up {one / two_procs_sliced:.2f}x, {coll_sliced:.3f} ms/step in collectives")
    print(f"  2 processes x 1 thread, all-reduces through MPI (RLC_MPI_SHM=0)  {two_procs_mpi:8.3f}   "
          f"speed-up {one / two_procs_mpi:.2f}x, {coll_mpi:.3f} ms/step in collectives")
    print(f"  CPU ms/step, all processes: 1 x 1 {cpu_one:.3f}, 2 x 1 through the window {cpu_two:.3f} "
          f"(ideal: the same; {cpu_two / cpu_one:.2f}x)")

    lib = os.path.join(os.path.dirname(rlc), "runtime", "librlrt.a")
    link = run(["mpicc", "--showme:link"]).split()
    compile_flags = run(["mpicc", "--showme:compile"]).split()
    run(["gcc", "-O2", "-std=c11", "-I" + os.path.join(ROOT, "runtime")] + compile_flags +
        [os.path.join(HERE, "allreduce.c"), lib] + link + ["-lopenblas", "-lz", "-lm", "-lpthread", "-o", "allreduce"])
    rows = [list(map(float, line.split())) for line in run(MPIRUN + ["2", "./allreduce", "20"]).split("\n")
            if line and not line.startswith("#")]
    sizes = [(row[0], row[1]) for row in rows]
    print("\nall-reduce at 2 processes (median of 20; ms, and GB/s of the all-reduced bytes); rlc through MPI"
          " (the path across nodes) and through the shared-memory window (a step's workspace):")
    print(f"  {'bytes':>10}  {'rlc, MPI':>17}  {'rlc, window':>17}  {'MPI_Allreduce':>17}  {'reduce_scatter':>14}"
          f"  {'allgather':>9}  {'alltoall':>9}")
    for row in rows:
        s = row[0]
        rate = [s / t / 1e9 if t > 0 else 0 for t in (row[1], row[6], row[2])]
        print(f"  {int(s):>10}  {row[1] * 1e3:8.3f} {rate[0]:7.2f}  {row[6] * 1e3:8.3f} {rate[1]:7.2f}  "
              f"{row[2] * 1e3:8.3f} {rate[2]:7.2f}  {row[3] * 1e3:14.3f}  {row[4] * 1e3:9.3f}  {row[5] * 1e3:9.3f}")
    # least squares t = a + S b over the sizes
    n = len(sizes)
    sx = sum(s for s, _ in sizes); sy = sum(t for _, t in sizes)
    sxx = sum(s * s for s, _ in sizes); sxy = sum(s * t for s, t in sizes)
    b = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    a = max((sy - b * sx) / n, 0.0)
    print(f"  fit: t = {a * 1e6:.1f} us + S x {b * 1e9:.3f} ns/byte")

    ae_bytes = 435536 * 4
    ae_flops = (223.58 + 343.65 + 5.23) * 1e6          # rlc summary bench/ae.rl, ae_b256
    rate = ae_flops / (one * 1e-3)
    gpt_params = 124e6
    gpt_tokens = 64 * 1024                              # a global batch of 64 sequences of 1,024 tokens
    gpt_t1 = 6 * gpt_params * gpt_tokens / rate
    print(f"\nprojection (ring all-reduce, compute split evenly, no overlap; "
          f"one process's FLOP rate {rate / 1e9:.1f} GFLOP/s from the AE):")

    def ring(procs, size):
        return 2 * (procs - 1) * a / 2 + 2 * (procs - 1) / procs * size * b

    for name, t1, size in (("AE (1.74 MB of gradients)", one * 1e-3, ae_bytes),
                           ("GPT-sized (124 M parameters, 496 MB)", gpt_t1, gpt_params * 4)):
        effs = "  ".join(f"N={p}: {t1 / (t1 + p * ring(p, size)) * 100:5.1f}%" for p in (2, 8, 64))
        print(f"  {name}: one-process step {t1 * 1e3:.1f} ms; efficiency {effs}")
    with open("/proc/loadavg") as f:
        print(f"\nload average after: {f.read().split()[0]}")


main()
