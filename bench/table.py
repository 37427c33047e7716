#!/usr/bin/python3
"""Turns run.sh's raw figures into the tables of bench/results.md.

table.py --raw DIR --out FILE --mode MODE
DIR holds runs.tsv (setting, threads, workload, side, config, rep, value), and where measured
quality.tsv, compile.tsv and sgemm.tsv. The section that MODE writes (side by side, or peers
only) replaces the same section of FILE and leaves the others as they are.
"""
import argparse
import collections
import ctypes
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys

UNIT = {"sgns": "words/s"}
PEER_NAME = {"torch": "PyTorch", "gensim": "gensim", "torch_sgns": "PyTorch"}


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}–{fmt(max(values))}]"


def fmt_value(unit):
    return (lambda v: f"{v:,.0f}") if unit == "words/s" else (lambda v: f"{v:.3f}")


def openblas_core():
    """OpenBLAS's build and the core its kernels were picked for, in this process."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return f"{lib.openblas_get_config().decode()}; core {lib.openblas_get_corename().decode()}"
    except (OSError, AttributeError):
        return "unknown"


def machine():
    model = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = re.search(r"Model name:\s*(.+)", out).group(1).strip()
    except (OSError, AttributeError):
        pass
    blas = openblas_core()
    unset = dict(os.environ)
    unset.pop("OPENBLAS_CORETYPE", None)
    unset.pop("OPENBLAS_L2_SIZE", None)
    core_unset = subprocess.run([sys.executable, __file__, "--core"], env=unset,
                                capture_output=True, text=True).stdout.strip()
    core_skx = subprocess.run([sys.executable, __file__, "--core"],
                              env=dict(os.environ, OPENBLAS_CORETYPE="SkylakeX"),
                              capture_output=True, text=True).stdout.strip()
    import gensim
    import torch
    load = open("/proc/loadavg").read().split()[:3]
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                    if k in os.environ) or "neither OPENBLAS_CORETYPE nor OPENBLAS_L2_SIZE set"
    return [f"- date: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}",
            f"- machine: {os.cpu_count()} CPUs (nproc), {model}; {platform.platform()}",
            f"- load average when the tables were written: {' '.join(load)}",
            f"- OpenBLAS (as the environment has it): {blas}; {env}",
            f"- OpenBLAS core with both variables unset: {core_unset}",
            f"- OpenBLAS core with OPENBLAS_CORETYPE=SkylakeX (setting `skylakex`): {core_skx}",
            f"- torch {torch.__version__}, gensim {gensim.__version__}, Python {platform.python_version()}"]


def side_by_side(runs, with_rlc):
    by = collections.defaultdict(list)
    for setting, t, name, side, cfg, rep, value in runs:
        by[(setting, int(t), name, side, cfg)].append((int(rep), float(value)))
    keys = sorted({(s, t, n, side) for s, t, n, side, _ in by if side != "rlc"})
    order = {n: i for i, n in enumerate(dict.fromkeys(r[2] for r in runs))}
    keys.sort(key=lambda k: (k[0], k[1], order[k[2]]))
    if with_rlc:
        head = ("| OpenBLAS | threads | workload | unit | rlc | peer | peer stock | peer tuned "
                "| peer/rlc (faster peer) |\n|---|---|---|---|---|---|---|---|---|")
    else:
        head = "| OpenBLAS | threads | workload | unit | peer | peer stock | peer tuned |\n|---|---|---|---|---|---|---|"
    out = [head]
    for setting, t, name, side in keys:
        unit = UNIT.get(name, "ms/step")
        f = fmt_value(unit)
        stock = dict(by[(setting, t, name, side, "stock")])
        tuned = dict(by[(setting, t, name, side, "tuned")])
        cells = [setting, str(t), name, unit]
        if with_rlc:
            rlc = dict(by[(setting, t, name, "rlc", "stock")])
            cells.append(spread(list(rlc.values()), f) if rlc else "—")
        cells += [PEER_NAME.get(side, side), spread(list(stock.values()), f) if stock else "—",
                  spread(list(tuned.values()), f) if tuned else "—"]
        if with_rlc:
            # The faster peer configuration by median; one ratio per repetition (a pair of runs):
            # peer time / rlc time, so words/s compare as rlc / peer. Above 1: rlc is faster.
            faster = {"stock": stock, "tuned": tuned}
            pick = (max if unit == "words/s" else min)(
                (k for k in faster if faster[k]), key=lambda k: statistics.median(faster[k].values()))
            peer = faster[pick]
            ratios = [(rlc[r] / peer[r]) if unit == "words/s" else (peer[r] / rlc[r])
                      for r in sorted(rlc) if r in peer]
            cells.append(f"{spread(ratios, lambda v: f'{v:.2f}')} ({pick})" if ratios else "—")
        out.append("| " + " | ".join(cells) + " |")
    return out


def quality(qrows):
    out = ["| vectors | agreement@10 | chance | words |", "|---|---|---|---|"]
    for name, line in qrows:
        kv = dict(p.split("=", 1) for p in line.split())
        out.append(f"| {name.removeprefix('vec_')} | {kv['agree10']} | {kv['chance']} | {kv['words']} |")
    return out


def load_line(lrows):
    """The 1-minute load average sampled before each A-B group: how loaded the machine was."""
    if not lrows:
        return []
    v = [float(r[4]) for r in lrows]
    return [f"- 1-minute load average before each A-B group: median {statistics.median(v):.2f} "
            f"[{min(v):.2f}–{max(v):.2f}] over {len(v)} groups (2 cores)"]


def read_vectors(path):
    vec = {}
    with open(path) as f:
        next(f)
        for line in f:
            p = line.rstrip().split(" ")
            vec[p[0]] = [float(x) for x in p[1:]]
    return vec


def thread_identity(raw, qrows):
    """Whether each trainer wrote the same vectors at 1 and at 2 threads (same OpenBLAS setting):
    byte-identical files, or the largest difference over the words both have."""
    out = ["| vectors | 1 vs 2 threads |", "|---|---|"]
    names = {r[0].removeprefix("vec_") for r in qrows}
    for n in sorted(x for x in names if x.endswith("_t1")):
        other = n[:-1] + "2"
        if other not in names:
            continue
        a, b = (os.path.join(raw, f"vec_{x}.txt") for x in (n, other))
        if open(a, "rb").read() == open(b, "rb").read():
            verdict = "identical (byte for byte)"
        else:
            va, vb = read_vectors(a), read_vectors(b)
            common = va.keys() & vb.keys()
            d = max((abs(x - y) for w in common for x, y in zip(va[w], vb[w])), default=float("nan"))
            verdict = f"differ: max |difference| {d:.3g} over {len(common)} words"
        out.append(f"| {n[:-3]} | {verdict} |")
    return out if len(out) > 2 else []


def compile_table(crows):
    out = ["| example | first compile, wall (ms) | first, CPU (ms) | cached, wall (ms) | cached, CPU (ms) "
           "| 1-epoch run, wall (ms) | first compile's share | load |",
           "|---|---|---|---|---|---|---|---|"]
    for name, c, wall, cpu, c2, cpu2, load in crows:
        out.append(f"| {name} | {float(c):.0f} | {float(cpu):.0f} | {float(c2):.0f} | {float(cpu2):.0f} "
                   f"| {int(wall)} | {100 * float(c) / int(wall):.1f}% | {load} |")
    return out


def roofline(srows):
    total = collections.defaultdict(float)
    bound = collections.defaultdict(float)
    for setting, t, stage, steps, ms, shape, calls, secs, g in srows:
        total[(setting, t, stage, steps, ms)] += float(secs)
        _, _, _, m, n, k = map(int, shape.split())
        bound[(setting, t, stage, steps, ms)] += 2 * m * n * k * int(calls) / (float(g) * 1e9)
    out = ["Share of rlc's step time in sgemm (oneDNN's, or OpenBLAS's with RLC_GEMM=openblas: "
           "runtime/gemm.c; sum of the timed calls / steps × ms/step), and the "
           "sgemm-alone bound: the time the step's matrix products take when that library runs each shape "
           "alone (its GFLOP/s below), over rlc's step time (100% = the step costs no more than its "
           "products alone; the issue's target is at least 85%):", "",
           "| OpenBLAS | threads | stage | ms/step | sgemm share | bound ms/step | bound / step |",
           "|---|---|---|---|---|---|---|"]
    for key, secs in total.items():
        setting, t, stage, steps, ms = key
        step_s = int(steps) * float(ms) / 1000
        out.append(f"| {setting} | {t} | {stage} | {float(ms):.3f} | {100 * secs / step_s:.1f}% | "
                   f"{1000 * bound[key] / int(steps):.3f} | {100 * bound[key] / step_s:.1f}% |")
    out += ["", "Per shape (order, transA, transB as CBLAS enums; M N K): GFLOP/s inside rlc's run and "
            "the same library alone on the same shape and thread count (the OpenBLAS column is the "
            "setting of OPENBLAS_CORETYPE the run had):", "",
            "| OpenBLAS | threads | stage | shape | calls/step | in rlc GFLOP/s | alone GFLOP/s |",
            "|---|---|---|---|---|---|---|"]
    for setting, t, stage, steps, ms, shape, calls, secs, g in srows:
        o, ta, tb, m, n, k = map(int, shape.split())
        inside = 2 * m * n * k * int(calls) / float(secs) * 1e-9
        out.append(f"| {setting} | {t} | {stage} | {o} {ta} {tb} {m}×{n}×{k} | "
                   f"{int(calls) / int(steps):.1f} | {inside:.1f} | {float(g):.1f} |")
    return out


def conv_table(crows):
    """The step's share in oneDNN's convolution primitives and their reorders (bench/sgemm_shim.c's
    $CONV_LOG), and each convolution's GFLOP/s beside its product on columns run by sgemm alone."""
    share = collections.defaultdict(lambda: [0.0, 0.0])
    for setting, t, stage, steps, ms, what, geometry, calls, secs, g in crows:
        share[(setting, t, stage, steps, ms)][what.startswith("reorder")] += float(secs)
    out = ["Convolutions on oneDNN's primitives (16 or more input channels, runtime/conv_onednn.c; "
           "fewer run on columns, as products in the table above): share of rlc's step in the "
           "primitives and in the reorders into and out of their layouts (sum of the timed calls / "
           "steps × ms/step):", "",
           "| OpenBLAS | threads | stage | ms/step | convolutions | reorders | both, ms/step |",
           "|---|---|---|---|---|---|---|"]
    for key, (conv, reorder) in share.items():
        setting, t, stage, steps, ms = key
        step_s = int(steps) * float(ms) / 1000
        out.append(f"| {setting} | {t} | {stage} | {float(ms):.3f} | {100 * conv / step_s:.1f}% | "
                   f"{100 * reorder / step_s:.1f}% | {1000 * (conv + reorder) / int(steps):.3f} |")
    out += ["", "Per convolution (a call is a block of N images; N C H W -> O channels, KH×KW kernel, OH×OW "
            "output): GFLOP/s inside rlc's run, and the sgemm alone of the same product on columns "
            "(forward O × N·OH·OW × C·KH·KW, weight gradient O × C·KH·KW × N·OH·OW, input gradient "
            "C·KH·KW × N·OH·OW × O), same thread count and library:", "",
            "| OpenBLAS | threads | stage | direction | N C H W -> O, KH×KW, OH×OW | calls/step | in rlc GFLOP/s | sgemm alone GFLOP/s |",
            "|---|---|---|---|---|---|---|---|"]
    for setting, t, stage, steps, ms, what, geometry, calls, secs, g in crows:
        if what.startswith("reorder"):
            continue
        n, c, h, w, o, kh, kw, oh, ow = map(int, geometry.split())
        flop = 2 * n * o * oh * ow * c * kh * kw * int(calls)
        out.append(f"| {setting} | {t} | {stage} | {what.split()[1]} | {n} {c} {h}×{w} -> {o}, {kh}×{kw}, "
                   f"{oh}×{ow} | {int(calls) / int(steps):.1f} | {flop / float(secs) * 1e-9:.1f} | {g} |")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--core", action="store_true", help="print OpenBLAS's core and stop")
    ap.add_argument("--raw")
    ap.add_argument("--out")
    ap.add_argument("--mode")
    a = ap.parse_args()
    if a.core:
        print(openblas_core())
        return
    if not (a.raw and a.out and a.mode):
        raise SystemExit("usage: table.py --raw DIR --out FILE --mode MODE")
    peers_only = "peers-only" in a.mode
    section = "peers-only" if peers_only else "side-by-side"
    title = ("## Peers only (rlc side pending)" if peers_only else "## rlc side by side with its peers")
    settings = os.environ.get("BENCH_SETTINGS", "env")
    env = os.environ.get
    body = [title, "", f"Written by `bench/run.sh` ({a.mode}).", ""] + machine() + load_line(
        rows(os.path.join(a.raw, "load.tsv"))) + [
        f"- settings: A B A B, {env('BENCH_REPS', '?')} repetitions of the ms/step workloads, "
        f"{env('BENCH_SGNS_REPS', '?')} of sgns; threads {env('BENCH_THREADS', '?')}; "
        f"OpenBLAS settings: {settings} (env: as the environment has it; unset: OPENBLAS_CORETYPE "
        "and OPENBLAS_L2_SIZE unset for both sides; skylakex: OPENBLAS_CORETYPE=SkylakeX for both "
        f"sides); peer configurations run: {env('BENCH_PEER_CONFIGS', '?')} (tuned = GLIBC_TUNABLES="
        "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296 "
        "OMP_WAIT_POLICY=passive)",
        f"- steps per run (rlc and PyTorch alike): {env('BENCH_STEPS', '?')}; sgns: one epoch, "
        + ("all on the quick run's corpus files" if "quick" in a.mode else
           "rlc and gensim on the whole corpus, the PyTorch skip-gram peer on its first "
           f"{env('BENCH_TORCH_SGNS_FILES', '?')} files (its words/s, not its total time, is compared)"),
        "- cells: median [min–max] over the repetitions", ""]
    body += side_by_side(rows(os.path.join(a.raw, "runs.tsv")), not peers_only)
    q = rows(os.path.join(a.raw, "quality.tsv"))
    if q:
        body += ["", "Word-vector quality (tag-neighbour agreement, bench/README.md), first repetition:", ""]
        body += quality(q)
        same = thread_identity(a.raw, q)
        if same:
            body += ["", "Same vectors at any thread count? (first repetition, same OpenBLAS setting)", ""] + same
    c = rows(os.path.join(a.raw, "compile.tsv"))
    if c:
        body += ["", "Compile time of every example (parse to ready-to-run, as rlc reports it: wall, and the "
                 "process's CPU time to ready, start-up included), first with an empty object cache (a "
                 "1-epoch run, 1 thread; the share is of that run) and cached (the second of two "
                 "more runs); load = the 1-minute load average after the runs:", ""] + compile_table(c)
    s = rows(os.path.join(a.raw, "sgemm.tsv"))
    if s:
        body += [""] + roofline(s)
    cv = rows(os.path.join(a.raw, "conv.tsv"))
    if cv:
        body += [""] + conv_table(cv)

    begin, end = f"<!-- BEGIN {section} -->", f"<!-- END {section} -->"
    text = open(a.out).read() if os.path.exists(a.out) else "# rlc benchmarks\n\nSee bench/README.md for what is measured and how.\n"
    block = begin + "\n" + "\n".join(body) + "\n" + end
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print("\n".join(body))


if __name__ == "__main__":
    main()
