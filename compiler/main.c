/* main.c — the `rlc` command: reads the command line and calls the driver.
 *
 * Each command is one row of the table below: its name, a one-line summary,
 * its usage text, and the function that parses its arguments. Adding a
 * command is adding a row.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "rlrt.h"

typedef struct Command {
    const char *name;
    const char *summary;
    const char *usage;  /* printed by `rlc NAME --help` and on a usage error */
    int (*run)(int argc, char **argv);  /* argv[0] is the command's name */
} Command;

static const Command *find_command(const char *name);

static int usage_error(const Command *cmd, const char *fmt, const char *arg) {
    fputs("rlc: ", stderr);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: %s(`rlc %s --help` for more)\n", cmd->usage, cmd->name);
    return 2;
}

static bool is_help(const char *arg) {
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static int cmd_check(int argc, char **argv) {
    const Command *cmd = find_command("check");
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-') return usage_error(cmd, "unknown option '%s' for check", argv[i]);
    if (argc < 2) return usage_error(cmd, "%s", "check needs at least one .rl file");
    return driver_check((const char *const *)argv + 1, argc - 1, stderr);
}

static bool procs_option(const Command *cmd, int argc, char **argv, int *i);

static int cmd_dump(int argc, char **argv) {
    const Command *cmd = find_command("dump");
    const char *file = NULL, *what = NULL, *stage = NULL;
    bool raw = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ast") == 0 || strcmp(argv[i], "--ir") == 0 || strcmp(argv[i], "--grad") == 0 ||
            strcmp(argv[i], "--kernels") == 0 || strcmp(argv[i], "--llvm") == 0) {
            if (what) return usage_error(cmd, "dump shows one phase at a time, not also '%s'", argv[i]);
            what = argv[i];
        } else if (strcmp(argv[i], "--raw") == 0) {
            raw = true;
        } else if (strcmp(argv[i], "--stage") == 0) {
            if (i + 1 == argc) return usage_error(cmd, "%s", "--stage needs a stage name");
            stage = argv[++i];
        } else if (strcmp(argv[i], "--procs") == 0) {
            if (!procs_option(cmd, argc, argv, &i)) return 2;
        } else if (argv[i][0] == '-') {
            return usage_error(cmd, "unknown option '%s' for dump", argv[i]);
        } else if (file) {
            return usage_error(cmd, "dump takes one file, not also '%s'", argv[i]);
        } else {
            file = argv[i];
        }
    }
    if (!file) return usage_error(cmd, "%s", "dump needs a .rl file");
    if (!what)
        return usage_error(cmd, "%s", "dump needs the phase to show (--ast, --ir, --grad, --kernels, --llvm)");
    if (strcmp(what, "--ast") == 0) {
        if (raw || stage) return usage_error(cmd, "%s", "--raw and --stage go with --ir or --grad");
        return driver_dump_ast(file, stdout, stderr);
    }
    if (strcmp(what, "--kernels") == 0 || strcmp(what, "--llvm") == 0) {
        if (raw) return usage_error(cmd, "%s", "--raw goes with --ir or --grad");
        return driver_dump_backend(file, strcmp(what, "--llvm") == 0, stage, stdout, stderr);
    }
    return driver_dump_ir(file, strcmp(what, "--grad") == 0, raw, stage, stdout, stderr);
}

/* A count option's value, parsed by the runtime's parser (as a built trainer
 * parses its own); false after printing the usage error, which names the option,
 * the value and why. */
static bool count_option(const Command *cmd, const char *option, const char *value, uint64_t min, uint64_t max,
                         uint64_t *out) {
    rt_error err = {0};
    if (rt_parse_count(option, value, min, max, out, &err)) return true;
    usage_error(cmd, "%s", err.msg);
    return false;
}

/* The largest --procs: far past any machine a step is compiled for here. */
enum { MAX_PROCS = 1 << 20 };

/* --procs N (at argv[*i]): shard the steps for N processes (docs/mpi.md). */
static bool procs_option(const Command *cmd, int argc, char **argv, int *i) {
    uint64_t n;
    if (*i + 1 == argc) {
        usage_error(cmd, "%s", "--procs needs a value");
        return false;
    }
    if (!count_option(cmd, argv[*i], argv[*i + 1], 1, MAX_PROCS, &n)) return false;
    ++*i;
    driver_set_procs((int64_t)n);
    return true;
}

static int cmd_run(int argc, char **argv) {
    const Command *cmd = find_command("run");
    const char *file = NULL;
    RunOptions o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes_value = strcmp(a, "--stage") == 0 || strcmp(a, "--epochs") == 0 ||
                           strcmp(a, "--threads") == 0 || strcmp(a, "--seed") == 0 ||
                           strcmp(a, "--steps") == 0 || strcmp(a, "--log-steps") == 0 ||
                           strcmp(a, "--limit") == 0;
        if (takes_value && i + 1 == argc) return usage_error(cmd, "%s needs a value", a);
        if (strcmp(a, "--stage") == 0) {
            o.stage = argv[++i];
        } else if (strcmp(a, "--log-steps") == 0) {
            o.step_log = argv[++i];
        } else if (takes_value) {
            bool is_seed = strcmp(a, "--seed") == 0, is_threads = strcmp(a, "--threads") == 0;
            uint64_t v;
            if (!count_option(cmd, a, argv[++i], is_seed ? 0 : 1,
                              is_seed ? UINT64_MAX : is_threads ? RT_MAX_THREADS : RT_MAX_COUNT, &v))
                return 2;
            if (strcmp(a, "--epochs") == 0) o.epochs = (int64_t)v;
            else if (strcmp(a, "--steps") == 0) o.steps = (int64_t)v;
            else if (is_threads) o.threads = (int)v;
            else if (strcmp(a, "--limit") == 0) o.limit = (int64_t)v;
            else o.override_seed = true, o.seed = v;
        } else if (strcmp(a, "--interp") == 0) {
            o.interp = true;
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = true;
        } else if (strcmp(a, "--no-cache") == 0) {
            o.no_cache = true;
        } else if (strcmp(a, "--resume") == 0) {
            o.resume = true;
        } else if (a[0] == '-') {
            return usage_error(cmd, "unknown option '%s' for run", a);
        } else if (file) {
            return usage_error(cmd, "run takes one file, not also '%s'", a);
        } else {
            file = a;
        }
    }
    if (!file) return usage_error(cmd, "%s", "run needs a .rl file");
    return driver_run(file, &o, stdout, stderr);
}

/* FILE.rl -> FILE: the trainer is named after the program, in the current folder. */
static char *default_output(const char *file) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".rl") == 0) n -= 3;
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, base, n);
        out[n] = 0;
    }
    return out;
}

static int cmd_build(int argc, char **argv) {
    const Command *cmd = find_command("build");
    const char *file = NULL;
    BuildOptions o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "-o") == 0           ? &o.output
                            : strcmp(a, "--target") == 0   ? &o.target
                            : strcmp(a, "--cpu") == 0      ? &o.cpu
                            : strcmp(a, "--features") == 0 ? &o.features
                                                           : NULL;
        if (slot) {
            if (i + 1 == argc) return usage_error(cmd, "%s needs a value", a);
            *slot = argv[++i];
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = true;
        } else if (strcmp(a, "--procs") == 0) {
            if (!procs_option(cmd, argc, argv, &i)) return 2;
        } else if (a[0] == '-') {
            return usage_error(cmd, "unknown option '%s' for build", a);
        } else if (file) {
            return usage_error(cmd, "build takes one file, not also '%s'", a);
        } else {
            file = a;
        }
    }
    if (!file) return usage_error(cmd, "%s", "build needs a .rl file");
    char *output = o.output ? NULL : default_output(file);
    if (!o.output) o.output = output;
    if (!o.output || !*o.output) {
        free(output);
        return usage_error(cmd, "%s", "build needs -o OUT for this file name");
    }
    int status = driver_build(file, &o, stdout, stderr);
    free(output);
    return status;
}

static int cmd_summary(int argc, char **argv) {
    const Command *cmd = find_command("summary");
    if (argc != 2 || argv[1][0] == '-') return usage_error(cmd, "%s", "summary takes one .rl file");
    return driver_summary(argv[1], stdout, stderr);
}

/* gradcheck's batch: finite differences cost a forward pass per parameter entry,
 * so a batch past this is a typo rather than a check anyone waits for. */
enum { GRADCHECK_MAX_BATCH = 4096 };

static int cmd_gradcheck(int argc, char **argv) {
    const Command *cmd = find_command("gradcheck");
    GradcheckOptions o = driver_gradcheck_defaults();
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        bool takes_value = strcmp(opt, "--stage") == 0 || strcmp(opt, "--batch") == 0 ||
                           strcmp(opt, "--seed") == 0 || strcmp(opt, "--tolerance") == 0;
        if (takes_value && i + 1 == argc) return usage_error(cmd, "%s needs a value", opt);
        uint64_t n;
        if (strcmp(opt, "--stage") == 0) {
            o.stage = argv[++i];
        } else if (strcmp(opt, "--batch") == 0) {
            if (!count_option(cmd, opt, argv[++i], 1, GRADCHECK_MAX_BATCH, &n)) return 2;
            o.batch = (int64_t)n;
        } else if (strcmp(opt, "--seed") == 0) {
            if (!count_option(cmd, opt, argv[++i], 0, UINT64_MAX, &n)) return 2;
            o.seed = n;
        } else if (strcmp(opt, "--tolerance") == 0) {
            char *end;
            o.tolerance = strtod(argv[++i], &end);
            if (!*argv[i] || *end || !(o.tolerance > 0) || !isfinite(o.tolerance))
                return usage_error(cmd, "--tolerance needs a positive number, not '%s'", argv[i]);
        } else if (opt[0] == '-') {
            return usage_error(cmd, "unknown option '%s' for gradcheck", opt);
        } else if (file) {
            return usage_error(cmd, "gradcheck takes one file, not also '%s'", opt);
        } else {
            file = opt;
        }
    }
    if (!file) return usage_error(cmd, "%s", "gradcheck needs a .rl file");
    return driver_gradcheck(file, &o, stdout, stderr);
}

static int cmd_version(int argc, char **argv) {
    const Command *cmd = find_command("version");
    if (argc > 1) return usage_error(cmd, "version takes no argument, not '%s'", argv[1]);
    return driver_version(stdout);
}

static const Command commands[] = {
    {"run", "compile a program and run its stages",
     "rlc run FILE.rl [--stage NAME] [--epochs N] [--steps N] [--threads N] [--seed N] [--limit N]\n"
     "        [--interp] [--quiet] [--log-steps FILE] [--no-cache] [--resume]\n"
     "  Compiles every stage (LLVM JIT) and runs the train and eval stages in the order written.\n"
     "  --stage    run only this stage\n"
     "  --epochs   override the epochs of every train stage (1 to 2^53)\n"
     "  --steps    run every train stage for this many steps instead (1 to 2^53)\n"
     "  --threads  threads for kernels and OpenBLAS (1 to 1024; default: every core)\n"
     "  --seed     override every stage's seed (0 to 2^64-1)\n"
     "  --limit    use at most N examples per epoch in every stage, a reduced budget (1 to 2^53)\n"
     "  --interp   run each step through the reference interpreter (slow; the oracle)\n"
     "  --quiet    no progress or epoch lines\n"
     "  --log-steps FILE  write `STAGE STEP LOSS` (loss as %.9g) for every train step to FILE\n"
     "  --no-cache compile every step afresh (default: reuse objects in $XDG_CACHE_HOME/rlc)\n"
     "  --resume   continue each train stage from its `save` file where that records an\n"
     "             unfinished run (bit for bit as if never stopped); skip finished stages\n",
     cmd_run},
    {"build", "compile a program to a standalone native trainer",
     "rlc build FILE.rl [-o OUT] [--cpu NAME] [--features LIST] [--target TRIPLE] [--procs N] [--quiet]\n"
     "  Emits every stage's step as native code and links it with librlrt, OpenBLAS and zlib\n"
     "  (using `cc`, or the program RLC_LINKER names) into one executable that runs the stages\n"
     "  as `rlc run` does, without LLVM or the .rl source. `OUT --help` lists its options.\n"
     "  -o          the executable to write (default: FILE without .rl, in this folder)\n"
     "  --cpu       the processor to compile for (default: this machine's; x86-64-v3 runs on\n"
     "              any AVX2 machine; the same loss bit for bit as rlc run needs the default)\n"
     "  --features  LLVM feature list for that processor (e.g. +avx2,-avx512f)\n"
     "  --target    the target triple; must be this machine's (the trainer links here)\n"
     "  --procs     a trainer for `mpirun -np N OUT`: data-parallel over N processes (docs/mpi.md;\n"
     "              default 1, or the processes of the mpirun rlc itself runs in)\n"
     "  --quiet     no `built` line\n",
     cmd_build},
    {"check", "check a program and report its errors",
     "rlc check FILE.rl...\n"
     "  Parses and checks each file, then lowers, differentiates and plans every stage as\n"
     "  `rlc run` does before its first step (no code generated); prints every error with its\n"
     "  source line. Sizes only the data knows (`brown.vocab`) are read from the data; when it\n"
     "  cannot be found, a warning says so and 6 stands in.\n"
     "  Exit status 0 when all are clean, 1 on any error.\n",
     cmd_check},
    {"dump", "print a phase's output as text",
     "rlc dump FILE.rl --ast | --ir | --grad | --kernels | --llvm [--raw] [--stage NAME] [--procs N]\n"
     "  --ast    the syntax tree, each node with its line:column\n"
     "  --ir     the datasets, and each stage's settings and forward graph (simplified)\n"
     "  --grad   each stage's forward + backward + update graph (simplified)\n"
     "  --kernels  the fusion plan: which IR nodes went into which kernel\n"
     "  --llvm   the LLVM module of each stage, before optimization\n"
     "  --raw    with --ir/--grad: the graph as lowered (and differentiated), before simplify\n"
     "  --stage  only that stage\n"
     "  --procs  each step as one of N data-parallel processes runs it, with its collectives\n"
     "           (docs/mpi.md; default 1, or the processes of the mpirun rlc runs in)\n",
     cmd_dump},
    {"summary", "parameters, FLOPs and memory of each stage",
     "rlc summary FILE.rl\n"
     "  Per stage: every parameter (shape, count, trained or frozen), totals, the FLOPs of one\n"
     "  step (forward, backward, update) at the stage's batch size, and the memory a step needs.\n",
     cmd_summary},
    {"gradcheck", "compare symbolic gradients with finite differences",
     "rlc gradcheck FILE.rl [--stage NAME] [--batch N] [--seed N] [--tolerance X]\n"
     "  Lowers every train stage at a small batch (dataset properties such as `brown.vocab` = 6,\n"
     "  no data is read), fills params and inputs with small random values, and compares each\n"
     "  trained parameter's symbolic gradient with central differences, in double precision.\n"
     "  Prints the worst relative error per parameter; eval stages are skipped.\n"
     "  --stage      only that stage\n"
     "  --batch      the batch size B (1 to 4096; default 4)\n"
     "  --seed       the random inputs, params and sampled entries (0 to 2^64-1; default 1)\n"
     "  --tolerance  the largest relative error that passes (default 1e-4)\n"
     "  Exit status 0 when every gradient is within tolerance, 1 otherwise.\n",
     cmd_gradcheck},
    {"version", "print rlc's version (also `rlc --version`)",
     "rlc version\n"
     "  Prints rlc's version and the LLVM it generates code with: the versions the object\n"
     "  cache's keys carry (a new version compiles every step afresh).\n",
     cmd_version},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static const Command *find_command(const char *name) {
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void print_help(FILE *out) {
    fputs("usage: rlc COMMAND [ARGS...]\n\ncommands:\n", out);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n`rlc COMMAND --help` describes one command.\n", out);
}

/* rlc runs OpenBLAS on one thread (its pool splits products itself: runtime/pool.c).
 * OpenBLAS, linked in statically, starts one spinning thread per core in its own
 * constructor unless told otherwise, ~10 ms of CPU at every start; a constructor of
 * higher priority runs first and tells it. */
__attribute__((constructor(101))) static void openblas_one_thread(void) {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    if (is_help(argv[1])) {
        print_help(stdout);
        return 0;
    }
    const Command *cmd = find_command(strcmp(argv[1], "--version") == 0 ? "version" : argv[1]);
    if (!cmd) {
        fprintf(stderr, "rlc: unknown command '%s'\n\n", argv[1]);
        print_help(stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage: %s", cmd->usage);
            return 0;
        }
    }
    /* under mpirun: join the job (alone, MPI is never started) */
    rt_error err = {0};
    if (!rt_mpi_start(&argc, &argv, &err)) {
        fprintf(stderr, "rlc: error: %s\n", err.msg);
        return 1;
    }
    int status = cmd->run(argc - 1, argv + 1);
    rt_mpi_finish();
    return status;
}
