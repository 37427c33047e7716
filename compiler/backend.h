/* backend.h — from a lowered program to something the runtime can run: every
 * stage's graph planned, emitted and JIT-compiled (or left to the reference
 * interpreter), and the rt_program that rt_run_program takes.
 * Prefix: be_.
 */
#ifndef RLC_BACKEND_H
#define RLC_BACKEND_H

#include "ast.h"
#include "interp.h"
#include "kernel.h"

typedef struct BackendStage {
    const IrStage *ir;
    KernelPlan *plan;          /* NULL in interpreter mode */
    RlcStepFn fn;              /* NULL in interpreter mode */
    double step_seconds;       /* time spent inside the step function */
    int64_t steps;
    int64_t rows;              /* examples seen by those steps (partial batches included) */
    int compiles;              /* times be_compile built this stage's code: 1 with the JIT */
    /* `sample:` (IrStage.sample): the logits graph's plan and code (NULL in interpreter
     * mode, and the code also with be_plan), and what the runtime's sampler gets */
    KernelPlan *sample_plan;
    RlcStepFn sample_fn;
    rt_sampler sampler;
} BackendStage;

typedef struct Backend {
    Arena *arena;
    const IrProgram *ir;
    bool interp;               /* run every step through the reference interpreter */
    Jit *jit;
    BackendStage *stages;
    rt_stage *rt_stages;
    rt_program prog;
    double compile_seconds;    /* plan + emit + optimize + JIT, all stages */
} Backend;

/* Compiles every stage of ir (nothing when interp) and fills b->prog. False with a
 * message in why when the back end cannot handle a graph. */
bool be_compile(Backend *b, Arena *a, const IrProgram *ir, bool interp, StrBuf *why);
/* be_compile through the JIT, with the object cache under cache_dir (objcache.c).
 * inputs, when not NULL, is everything ir was lowered from (driver.c): a program
 * whose every step the cache has under it is loaded without emitting its IR. */
bool be_compile_cached(Backend *b, Arena *a, const IrProgram *ir, const char *cache_dir,
                       const char *inputs, StrBuf *why);
/* Plans every stage (fuse_plan) and fills b->prog, but compiles nothing: the
 * steps are left for `rlc build` to emit as object code (aot.c). */
bool be_plan(Backend *b, Arena *a, const IrProgram *ir, StrBuf *why);
void be_free(Backend *b);

/* Where the output of a plan's graph (IrGraph.output) lies in the workspace: its
 * byte offset as a function of the batch size. */
KSize be_output_offset(const KernelPlan *p);

/* The kernel plan or the LLVM module text of each stage (`rlc dump --kernels|--llvm`). */
bool be_dump(const IrProgram *ir, bool llvm, const char *only, StrBuf *out, StrBuf *why);

/* What node id of g holds when it is the first non-finite value of a step: the
 * .rl code it came from (`the value of` / `the gradient of` `TEXT` (file:line:col,
 * IR node %N op) is FIRST), or for an input the dataset field. */
void be_describe_nonfinite(const IrGraph *g, int id, const char *first, char *msg, size_t cap);

/* A 64-bit FNV-1a hash of the program's source files: stored in parameter files. */
uint64_t be_program_hash(const Program *p);

#endif
