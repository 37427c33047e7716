/* driver.h — the pipeline the `rlc` commands run (main.c parses the command
 * line; everything between reading the files and printing lives here). */
#ifndef RLC_DRIVER_H
#define RLC_DRIVER_H

#include <stdio.h>
#include "ast.h"

/* One compilation: its arena, its diagnostics, and the program built so far. */
typedef struct Compilation {
    Arena arena;
    Diags diags;
    Program program;
} Compilation;

void driver_init(Compilation *c);
void driver_free(Compilation *c);

/* Reads and parses `path` as the main module. False on any error. */
bool driver_parse(Compilation *c, const char *path);
/* The front end: parse, then the semantic phases. False on any error. */
bool driver_front(Compilation *c, const char *path);

/* `rlc check FILE...`: each file through the front end, then every stage
 * lowered, differentiated and planned into kernels as `rlc run` does before
 * its first step (no code generated). A dataset property whose data cannot be
 * read takes a placeholder size with a warning. Diagnostics to err. Returns
 * the exit status: 0 clean (warnings allowed), 1 on any error. */
int driver_check(const char *const *paths, int npaths, FILE *err);
/* `rlc dump FILE --ast`: the parsed tree to out, diagnostics to err. */
int driver_dump_ast(const char *path, FILE *out, FILE *err);

/* The front end, then lowering (with autodiff and simplify) of every stage;
 * dataset properties such as `brown.vocab` are read from the data. NULL on any error. */
struct IrProgram *driver_lower(Compilation *c, const char *path);
/* `rlc dump FILE --ir | --grad [--raw] [--stage NAME]` (lower_dump in lower.h). */
int driver_dump_ir(const char *path, bool grad, bool raw, const char *stage, FILE *out, FILE *err);
/* `rlc summary FILE`: parameters, FLOPs and memory per stage. */
int driver_summary(const char *path, FILE *out, FILE *err);

/* `rlc dump FILE --kernels | --llvm [--stage NAME]`: the fusion plan or the LLVM module. */
int driver_dump_backend(const char *path, bool llvm, const char *stage, FILE *out, FILE *err);

/* `rlc run FILE [--stage NAME] [--epochs N] [--threads N] [--seed N] [--interp]`. */
typedef struct RunOptions {
    const char *stage;
    int64_t epochs;          /* > 0: overrides the epochs of train stages */
    int64_t steps;           /* > 0: every train stage runs this many steps */
    int threads;             /* <= 0: every core */
    int64_t limit;           /* > 0: at most this many examples per epoch in every stage */
    bool override_seed;
    uint64_t seed;
    bool interp;             /* every step through the reference interpreter */
    bool quiet;
    bool no_cache;           /* compile every step afresh, neither reading nor writing the cache */
    const char *step_log;    /* --log-steps FILE: `STAGE STEP LOSS` per train step */
    bool resume;             /* --resume: train stages continue from their save files */
} RunOptions;
int driver_run(const char *path, const RunOptions *o, FILE *out, FILE *err);
/* Shard every stage for this many processes (docs/mpi.md) in what the driver
 * compiles next: `rlc build --procs N`, `rlc dump --procs N`. 0 (the default):
 * for the processes of the mpirun rlc runs in, 1 alone. */
void driver_set_procs(int64_t procs);
/* `rlc gradcheck FILE [--stage NAME] [--batch N] [--seed N] [--tolerance X]`. */
typedef struct GradcheckOptions {
    const char *stage;           /* NULL: every train stage */
    int64_t batch;               /* the B every stage is lowered with */
    int64_t small_dims;          /* every dataset property (`brown.vocab`): no data is read */
    uint64_t seed;               /* inputs, params and sampled entries */
    double tolerance;            /* the largest relative error that passes */
} GradcheckOptions;

/* The defaults: batch 4, dataset properties 6, seed 1, tolerance 1e-4
 * (docs/ir.md, Gradient checks, says why). */
GradcheckOptions driver_gradcheck_defaults(void);
/* Lowers the program with o's batch and small dims (no data files needed) and
 * runs ir_gradcheck on every train stage, or only o->stage; eval stages are
 * named and skipped. Prints per stage and per trained param the worst relative
 * error. Returns 0 when every one is within o->tolerance, 1 otherwise or on
 * any compile error. */
int driver_gradcheck(const char *path, const GradcheckOptions *o, FILE *out, FILE *err);

/* `rlc build FILE [-o OUT] [--target T] [--cpu NAME] [--features LIST]`: a standalone trainer (aot.h). */
typedef struct BuildOptions {
    const char *output;
    const char *target;          /* NULL: the host's triple (the only one accepted) */
    const char *cpu, *features;  /* NULL: the host's */
    bool quiet;
} BuildOptions;
int driver_build(const char *path, const BuildOptions *o, FILE *out, FILE *err);

/* `rlc --version`: rlc's and LLVM's versions, those the object cache's keys carry. */
int driver_version(FILE *out);

#endif
