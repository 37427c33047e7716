/* kernel.h — the kernel plan (fuse.c), its LLVM code (codegen.c) and the JIT
 * (jit.c): the back end's boundary (DESIGN.md, Kernel plan).
 *
 * fuse_plan groups the IR nodes of one graph into kernels, each one loop nest
 * or one library call, and places every intermediate tensor in the step's
 * workspace. cg_emit turns the plan into an LLVM module with one function per
 * kernel and a step function `void NAME(rt_step_ctx *ctx)` that calls them in
 * order; jit_compile (or cg_emit_object for `rlc build`) makes it native code.
 */
#ifndef RLC_KERNEL_H
#define RLC_KERNEL_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include "ir.h"

/* ------------------------------------------------------------------ sizes */

/* A byte count that depends on the batch size: c[2]*B^2 + c[1]*B + c[0]
 * (B^2 appears with [B, B] similarity matrices). Every coefficient of a slot's
 * offset and size is a multiple of 64, so buffers placed at such offsets stay
 * cache-line aligned; a part of an all-reduce's bucket (fuse.c) lies inside its
 * bucket's slot at any multiple of 4 bytes. */
typedef struct KSize {
    int64_t c[3];
} KSize;

int64_t ksize_eval(KSize s, int64_t B);

/* ------------------------------------------------------------------ plans */

typedef enum {
    KB_NONE,     /* computed inside a kernel (inlined) or dead: no memory */
    KB_WORK,     /* in the workspace at `offset` */
    KB_PARAM,    /* ctx->params[index] */
    KB_INPUT,    /* ctx->inputs[index] */
    KB_VIEW,     /* a reshape, or an all-reduce that sums in place: the memory of
                  * node `of`, read row-major */
} KBufKind;

typedef struct KBuf {
    KBufKind kind;
    int index;   /* KB_PARAM, KB_INPUT */
    int of;      /* KB_VIEW */
    KSize offset, size; /* KB_WORK */
} KBuf;

typedef enum {
    K_LOOP,      /* elementwise chain (with its broadcasts/movement) stored at root */
    K_REDUCE,    /* a reduction over axes with its elementwise input chain fused in */
    K_ARGMAX,    /* index of the first maximum along one axis */
    K_SGEMM,     /* matmul: rt_sgemm (rt_gemm, split over the pool), transposes as
                  * flags; 3-D: one call per group */
    K_RANDOM,    /* rt_random_fill */
    K_SHIFT2D,   /* rt_shift2d */
    K_SCATTER,   /* dense scatter_add: zero fill, then add rows in order */
    K_FOLD,      /* fold (col2im): rt_col2im, split over image planes */
    K_IM2COL,    /* a stored unfold (im2col): rt_im2col, split over rows */
    K_CONV,      /* a matmul with a convolution's columns, made image by image from its
                  * image: rt_conv (weights @ columns, split over images) or
                  * rt_conv_weight_grad (gradient @ columns^T, over column rows); or a
                  * fold of W^T @ dY made image by image: rt_conv_input_grad */
    K_UPDATE,    /* dense optimizer update of one parameter, gradient chain fused in */
    K_SPARSE_UPDATE, /* scatter_add feeding an update: touches only the rows read */
    K_COLLECTIVE,    /* rt_collective: a sum, gather or scatter over the processes (mpi.c);
                      * an all-reduce only starts (rt_allreduce_start) and runs on while
                      * the kernels after it do */
    K_COLLECTIVE_WAIT, /* rt_allreduce_wait: the all-reduce `root` has its sums (fuse.c
                      * places it before their first reader) */
    K_JOINED,        /* no code: a concat of gradients into an all-reduce's bucket,
                      * whose parts the kernels that make them store in place (fuse.c) */
} KernelKind;

typedef struct Kernel {
    KernelKind kind;
    int root;            /* the node it stores (or the IR_UPDATE) */
    Vec(int) nodes;      /* IR nodes computed in it, ascending ids; root last */
    Vec(int) reads;      /* memory-backed nodes it loads, ascending ids */
    bool flat;           /* K_LOOP/K_UPDATE: every node has the root's element
                          * count and no movement, so one linear index serves all */
    bool parallel;       /* its outer loop may be split across the pool's threads */
    bool hot_rows;       /* it gathers rows of a table that the step's sparse update
                          * writes: never split (fuse.c, mark_hot_rows) */
    KSize scratch_offset, scratch_size; /* K_SPARSE_UPDATE: row accumulators */
    Vec(int) scatters;   /* K_SPARSE_UPDATE: the scatter_adds its gradient sums, in order */
} Kernel;

/* Kernels first .. first + count - 1 run row by row: each over row o of axis 0
 * (one outer index), then each over row o + 1 (fuse_rows.c). */
typedef struct KRowGroup {
    int first, count;
} KRowGroup;

typedef struct KernelPlan {
    const IrGraph *g;
    Arena *arena;
    Vec(Kernel) kernels;   /* in execution order */
    Vec(KRowGroup) row_groups; /* ascending, disjoint */
    KBuf *buf;             /* per IR node */
    KSize workspace;       /* bytes of scratch the step needs at batch B */
} KernelPlan;

/* Groups the live nodes of g into kernels and plans its buffers; NULL with a
 * message in *why when g uses something the back end cannot compile. */
KernelPlan *fuse_plan(Arena *a, const IrGraph *g, StrBuf *why);
/* Finds the row groups of p's kernels (fuse_rows.c); fuse_plan calls it before
 * placing buffers, which keeps a group's buffers alive through the whole group. */
void fuse_row_groups(KernelPlan *p);
/* Bytes of ctx->workspace a step at batch size B needs. */
size_t kernel_plan_workspace(const KernelPlan *p, int64_t B);
/* Stable text for `rlc dump --kernels`: one kernel a line with its IR nodes. */
void kernel_plan_print(const KernelPlan *p, StrBuf *out);
const char *kernel_kind_name(KernelKind k);
/* Whether a reduction of `in` over `axes` runs kept-major: its innermost axis is
 * reduced and a reduced axis comes before a kept one (a bias or batch-norm gradient
 * over [N, C, H, W], a tiled pooling). Then the kept axes are the outer loops, the
 * first of them split across threads, and every reduced axis is summed in a
 * register, each output written once; otherwise the input is walked in row-major
 * order, accumulating into the output. */
bool reduce_kept_major(const IrShape *in, uint32_t axes);

/* ---------------------------------------------------------------- codegen */

/* Emits the plan into a new module in ctx: one internal function per kernel and
 * the external step function `step_name` (void(rt_step_ctx *)). NULL with a
 * message when the module does not verify (a back-end bug, reported, not crashed). */
LLVMModuleRef cg_emit(const KernelPlan *p, LLVMContextRef ctx, const char *step_name,
                      StrBuf *why);
/* The kernels that the modules of one JIT define, by name (cg_emit_shared). */
typedef struct KernelNames {
    Arena *arena;
    Vec(const char *) names;
} KernelNames;
/* cg_emit for a module that goes into one JIT with others: each kernel is named
 * after its kind and a hash of its code (`loop_<32 hex digits>`), external, and
 * defined by the first module of *defined's JIT that has it; a module emitted after
 * that one (or a second kernel of the same code) declares it and calls that code. The
 * modules must be added to the JIT in the order they were emitted. */
LLVMModuleRef cg_emit_shared(const KernelPlan *p, LLVMContextRef ctx, const char *step_name,
                             KernelNames *defined, StrBuf *why);
/* The module of a stage's non-finite checker `int32_t NAME(rt_step_ctx *)`: it runs
 * the step's kernels, but each dense optimizer update only looks at its gradient
 * (parameters and optimizer state are left as they are), and returns the first
 * node whose value holds a NaN or an infinity: f32 inputs and parameters by node
 * id, then kernel roots and dense updates' gradients in execution order; -1 when
 * none does (sparse updates' gradients are not looked at). Values computed inside
 * a kernel (inlined) are seen through the root they feed. `rlc build` links it into trainers to name the .rl code of a
 * non-finite loss, where `rlc run` replays the step in the interpreter instead. */
LLVMModuleRef cg_emit_checker(const KernelPlan *p, LLVMContextRef ctx, const char *name,
                              StrBuf *why);
/* Textual LLVM IR for `rlc dump --llvm`. */
void cg_print_module(LLVMModuleRef m, StrBuf *out);
/* The optimization every compiled module gets (default<O2> for tm's CPU). */
const char *cg_pipeline(void);
/* Appends the kernels' code-generation level and LLVM options (for the cache keys). */
void cg_describe_codegen(StrBuf *out);
bool cg_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm, StrBuf *why);
/* A target machine for cpu/features (NULL: the host's), PIC when pic. */
LLVMTargetMachineRef cg_target_machine(const char *cpu, const char *features, bool pic,
                                       StrBuf *why);
/* Optimizes m for cpu/features ("x86-64-v3", "" for portable objects; NULL for the
 * host) and writes a position-independent object file. */
bool cg_emit_object(LLVMModuleRef m, const char *path, const char *cpu, const char *features,
                    StrBuf *why);

/* -------------------------------------------------------------------- jit */

typedef void (*RlcStepFn)(rt_step_ctx *ctx);
/* The name of an object in the cache: 32 hex digits of a 128-bit hash. */
typedef struct ObjCacheKey {
    char hex[33];
} ObjCacheKey;
typedef struct Jit Jit;

/* An ORC LLJIT for the host CPU with librlrt and OpenBLAS symbols defined. */
Jit *jit_new(StrBuf *why);
void jit_free(Jit *j);
/* The target machine the JIT compiles for (the JIT's; for cache keys). */
LLVMTargetMachineRef jit_target_machine(Jit *j);
/* how the JIT compiles (the kernels' pipeline and code generation, the glue's), for cache keys */
const char *jit_compile_settings(void);
/* The context modules for this JIT must be built in. */
LLVMContextRef jit_context(Jit *j);
/* Optimizes m (default<O2>, host target), adds it to the JIT (which takes it,
 * also on failure) and returns the address of its function `step_name`. */
RlcStepFn jit_compile(Jit *j, LLVMModuleRef m, const char *step_name, StrBuf *why);
/* jit_compile for n modules at once, each in its own LLVM context (the caller's,
 * to dispose after this returns): those the cache lacks are optimised and
 * compiled in parallel, one thread per core. Takes every module; fills fns. */
bool jit_compile_many(Jit *j, int n, LLVMModuleRef *modules, const char *const *step_names,
                      RlcStepFn *fns, StrBuf *why);
/* Compile with up to `threads` workers (default: one per core, at most 16). A
 * module is compiled in parts (jit.c split_module): its glue alone when that computes
 * no floats (jit_glue_computes_floats), and its kernels spread over parts of about
 * half of each worker's share of the instructions (at least min_part_instructions,
 * default 2000), 4 parts at most. Tests set it to see the split. */
void jit_set_parallelism(Jit *j, int threads, long min_part_instructions);
/* Whether a function of m other than its kernels (`<kind>_<32 hex digits>`) computes
 * with floating-point values: arithmetic, comparisons, conversions, an intrinsic with
 * a float operand or result. When none does, that glue is compiled at level None
 * (its bits cannot depend on the level); else with the kernels' pipeline. */
bool jit_glue_computes_floats(LLVMModuleRef m);
/* jit_compile_many that also stores each module's object under source_keys[i]
 * (objcache_source_key) in the cache. */
bool jit_compile_many_keyed(Jit *j, int n, LLVMModuleRef *modules, const char *const *step_names,
                            const ObjCacheKey *source_keys, RlcStepFn *fns, StrBuf *why);
/* jit_compile_many_keyed a module at a time, so that the workers compile the
 * first modules while the caller emits the next: start a batch of n modules
 * (step_names and source_keys, which may be NULL, stay the caller's until
 * finish), add each module as it is emitted (the batch takes it, also on
 * failure; false with a message in why when it cannot be compiled), then finish:
 * waits for every part, stores and links the objects, fills fns[0..n) and frees
 * the batch. A module's context must live until finish. NULL when out of memory. */
typedef struct JitBatch JitBatch;
JitBatch *jit_batch_start(Jit *j, int n, const char *const *step_names, const ObjCacheKey *source_keys);
bool jit_batch_add(JitBatch *b, LLVMModuleRef m, StrBuf *why);
bool jit_batch_finish(JitBatch *b, RlcStepFn *fns, StrBuf *why);
/* The n objects stored under source_keys, added to the JIT, their step_names in
 * fns: true when the cache has every one. False with nothing added and why empty
 * when one is missing (or there is no cache); false with a message in why when
 * the JIT rejects one. */
bool jit_load_cached(Jit *j, int n, const ObjCacheKey *source_keys, const char *const *step_names,
                     RlcStepFn *fns, StrBuf *why);
/* Assembly of a copy of m after the JIT's optimization (tests, --llvm asm). */
bool jit_emit_asm(Jit *j, LLVMModuleRef m, StrBuf *out, StrBuf *why);
/* Keep and reuse compiled objects under dir (NULL: none, the default). False
 * when out of memory. */
bool jit_use_cache(Jit *j, const char *dir);
/* How many jit_compile calls found their object in the cache, and how many did not. */
void jit_cache_counts(const Jit *j, int *hits, int *misses);

/* ---------------------------------------------------------- object cache */

/* The name of a module's object in the cache (ObjCacheKey): a hash of its IR text, the
 * target, the pass pipeline and the rlc and LLVM versions (objcache.c). */
ObjCacheKey objcache_key(LLVMModuleRef m, LLVMTargetMachineRef tm, const char *pipeline);
/* objcache_key of the module whose bitcode (LLVMWriteBitcodeToMemoryBuffer) this is:
 * the same key, for a caller that needs the bitcode anyway (jit.c's split). */
ObjCacheKey objcache_key_of_bitcode(LLVMMemoryBufferRef bitcode, LLVMTargetMachineRef tm, const char *pipeline);
/* Another name for the object of the module called `module` (its step function)
 * of a program: a hash of `inputs` (everything its lowering read: sources, options,
 * dataset properties), the build id of this rlc, the target, the pass pipeline and
 * the versions, computed before any IR is emitted. False when the executable has no
 * build id (then only objcache_key names objects). */
bool objcache_source_key(const char *inputs, const char *module, LLVMTargetMachineRef tm,
                         const char *pipeline, ObjCacheKey *key);
/* Whether name (n bytes) is `<kind>_<32 hex digits>`: a kernel that cg_emit_shared
 * named after the hash of its code. */
bool objcache_named_by_its_code(const char *name, size_t n);
/* The same 128-bit hash of a text (32 hex digits): cg_emit_shared names kernels by it. */
ObjCacheKey objcache_text_hash(const char *text);
/* "rlc VERSION (LLVM X.Y.Z)": what `rlc --version` prints and every key hashes. */
void objcache_version(char *out, size_t cap);
/* The object stored under key, or NULL when absent or damaged. */
LLVMMemoryBufferRef objcache_get(const char *dir, const ObjCacheKey *key);
/* Stores obj under key (atomically; a failure only means no entry). */
void objcache_put(const char *dir, const ObjCacheKey *key, LLVMMemoryBufferRef obj);
/* A dataset property remembered under key (rt_dataset_spec_key): true with *value
 * when dir has it, whole; and storing one (atomically, like objects). */
bool objcache_get_dim(const char *dir, const char *key, int64_t *value);
void objcache_put_dim(const char *dir, const char *key, int64_t value);
/* $XDG_CACHE_HOME/rlc, else $HOME/.cache/rlc (malloc'd); NULL when neither is set. */
char *objcache_default_dir(void);

#endif
