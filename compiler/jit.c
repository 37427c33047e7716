/* jit.c — ORC LLJIT for the step functions of `rlc run`.
 *
 * One LLJIT per compilation, one thread-safe context for all its modules.
 * Runtime and OpenBLAS symbols are defined as absolute addresses taken here, so
 * the JIT finds them without -rdynamic and the linker cannot drop OpenBLAS
 * under --as-needed (notes/llvm-19.md §6.4, §6.5); libc/libm symbols that LLVM
 * itself introduces (expf, memset) come from the process search generator.
 * Every module is optimised and turned into an object file here, with the
 * same target machine the JIT would use, and added to the JIT as an object:
 * that one path serves both a fresh compile and a hit in the object cache
 * (objcache.c), so a cached step is the same machine code as a fresh one.
 * Every LLVM error becomes a message in *why; nothing here prints or aborts.
 */
#include "kernel.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <unistd.h>

struct Jit {
    LLVMOrcLLJITRef lljit;
    LLVMOrcThreadSafeContextRef tsctx;
    LLVMTargetMachineRef tm;  /* for passes and assembly; the JIT owns its own */
    StrBuf session_errors;    /* what the execution session reported */
    char *cache_dir;          /* NULL: no object cache */
    int cache_hits, cache_misses;
};

static bool take_error(LLVMErrorRef err, const char *what, StrBuf *why) {
    if (!err) return false;
    char *msg = LLVMGetErrorMessage(err);
    sb_printf(why, "%s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return true;
}

static void report_session_error(void *ctx, LLVMErrorRef err) {
    Jit *j = ctx;
    char *msg = LLVMGetErrorMessage(err);
    sb_printf(&j->session_errors, "%s%s", j->session_errors.len ? "; " : "", msg);
    LLVMDisposeErrorMessage(msg);
}

/* The functions generated code calls, by the names codegen.c declares. */
static const struct { const char *name; void *addr; } runtime_symbols[] = {
    {"rt_random_fill", (void *)rt_random_fill},
    {"rt_shift2d", (void *)rt_shift2d},
    {"rt_col2im", (void *)rt_col2im},
    {"rt_collective", (void *)rt_collective},
    {"rt_allreduce_start", (void *)rt_allreduce_start},
    {"rt_allreduce_wait", (void *)rt_allreduce_wait},
    {"rt_mpi_progress", (void *)rt_mpi_progress},
    {"rt_conv", (void *)rt_conv},
    {"rt_conv_weight_grad", (void *)rt_conv_weight_grad},
    {"rt_conv_input_grad", (void *)rt_conv_input_grad},
    {"rt_im2col", (void *)rt_im2col},
    {"rt_parallel_for", (void *)rt_parallel_for},
    {"rt_update_sgd_rows", (void *)rt_update_sgd_rows},
    {"rt_update_adam_rows", (void *)rt_update_adam_rows},
    {"rt_sgemm", (void *)rt_sgemm},
    {"rt_sgemm_batched", (void *)rt_sgemm_batched},
    {"expf", (void *)expf},
    {"logf", (void *)logf},
    {"tanhf", (void *)tanhf},
    {"powf", (void *)powf},
    {"pow", (void *)pow},
};

static bool define_runtime_symbols(Jit *j, StrBuf *why) {
    enum { N = sizeof runtime_symbols / sizeof runtime_symbols[0] };
    LLVMOrcCSymbolMapPair pairs[N];
    for (int i = 0; i < N; i++) {
        pairs[i].Name = LLVMOrcLLJITMangleAndIntern(j->lljit, runtime_symbols[i].name);
        pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)runtime_symbols[i].addr;
        pairs[i].Sym.Flags.GenericFlags =
            LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
        pairs[i].Sym.Flags.TargetFlags = 0;
    }
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, N);
    LLVMOrcJITDylibRef main_jd = LLVMOrcLLJITGetMainJITDylib(j->lljit);
    if (take_error(LLVMOrcJITDylibDefine(main_jd, mu), "defining runtime symbols", why))
        return false;

    LLVMOrcDefinitionGeneratorRef gen;
    if (take_error(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
                       &gen, LLVMOrcLLJITGetGlobalPrefix(j->lljit), NULL, NULL),
                   "process symbol search", why))
        return false;
    LLVMOrcJITDylibAddGenerator(main_jd, gen);
    return true;
}

Jit *jit_new(StrBuf *why) {
    Jit *j = calloc(1, sizeof *j);
    if (!j) {
        sb_puts(why, "out of memory");
        return NULL;
    }
    j->tm = cg_target_machine(NULL, NULL, false, why);
    LLVMTargetMachineRef jit_tm = j->tm ? cg_target_machine(NULL, NULL, false, why) : NULL;
    if (!jit_tm) {
        jit_free(j);
        return NULL;
    }
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    /* Takes jit_tm: the JIT compiles with the same CPU, features and level. */
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
        builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jit_tm));
    if (take_error(LLVMOrcCreateLLJIT(&j->lljit, builder), "creating the JIT", why)) {
        j->lljit = NULL;
        jit_free(j);
        return NULL;
    }
    LLVMOrcExecutionSessionSetErrorReporter(LLVMOrcLLJITGetExecutionSession(j->lljit),
                                            report_session_error, j);
    j->tsctx = LLVMOrcCreateNewThreadSafeContext();
    if (!define_runtime_symbols(j, why)) {
        jit_free(j);
        return NULL;
    }
    return j;
}

void jit_free(Jit *j) {
    if (!j) return;
    if (j->lljit) {
        LLVMErrorRef err = LLVMOrcDisposeLLJIT(j->lljit);
        if (err) LLVMConsumeError(err);
    }
    if (j->tsctx) LLVMOrcDisposeThreadSafeContext(j->tsctx);
    if (j->tm) LLVMDisposeTargetMachine(j->tm);
    sb_free(&j->session_errors);
    free(j->cache_dir);
    free(j);
}

LLVMTargetMachineRef jit_target_machine(Jit *j) { return j->tm; }

LLVMContextRef jit_context(Jit *j) { return LLVMOrcThreadSafeContextGetContext(j->tsctx); }

static void set_target(Jit *j, LLVMModuleRef m) {
    LLVMSetTarget(m, LLVMOrcLLJITGetTripleString(j->lljit));
    LLVMSetDataLayout(m, LLVMOrcLLJITGetDataLayoutStr(j->lljit));
}

bool jit_use_cache(Jit *j, const char *dir) {
    free(j->cache_dir);
    j->cache_dir = dir ? strdup(dir) : NULL;
    return !dir || j->cache_dir;
}

void jit_cache_counts(const Jit *j, int *hits, int *misses) {
    *hits = j->cache_hits;
    *misses = j->cache_misses;
}

static bool verify(LLVMModuleRef m, StrBuf *why) {
    char *msg = NULL;
    bool bad = LLVMVerifyModule(m, LLVMReturnStatusAction, &msg);
    if (bad) sb_printf(why, "generated code does not verify: %s", msg);
    LLVMDisposeMessage(msg);
    return !bad;
}

/* Optimises m and emits its object code with tm; m stays the caller's. */
static LLVMMemoryBufferRef emit_object(LLVMModuleRef m, LLVMTargetMachineRef tm, StrBuf *why) {
    if (!cg_optimize(m, tm, why)) return NULL;
    LLVMMemoryBufferRef obj = NULL;
    char *msg = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMObjectFile, &msg, &obj)) {
        sb_printf(why, "emitting object code: %s", msg);
        obj = NULL;
    }
    LLVMDisposeMessage(msg);
    return obj;
}

/* Adds an object (which the JIT takes) and returns the address of step_name. */
static RlcStepFn add_object(Jit *j, LLVMMemoryBufferRef obj, const char *step_name, StrBuf *why) {
    if (take_error(LLVMOrcLLJITAddObjectFile(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit), obj),
                   "adding the object", why))
        return NULL;
    LLVMOrcExecutorAddress addr = 0;
    j->session_errors.len = 0;
    if (take_error(LLVMOrcLLJITLookup(j->lljit, &addr, step_name), "looking up the step", why)) {
        if (j->session_errors.len) sb_printf(why, " (%s)", j->session_errors.data);
        return NULL;
    }
    return (RlcStepFn)(uintptr_t)addr;
}

/* One module of a jit_compile_many call: found in the cache, or compiled by
 * one of the workers. */
typedef struct Pending {
    LLVMModuleRef module;
    ObjCacheKey key;
    LLVMMemoryBufferRef obj;
    bool from_cache;
    StrBuf why;
} Pending;

typedef struct Workers {
    Pending *pending;
    int n;
    int next; /* the next module to claim, under lock */
    pthread_mutex_t lock;
} Workers;

/* Claims modules one at a time and compiles those not found in the cache. */
static void drain(Workers *w, LLVMTargetMachineRef tm, const char *no_tm) {
    for (;;) {
        pthread_mutex_lock(&w->lock);
        int i = w->next < w->n ? w->next++ : -1;
        pthread_mutex_unlock(&w->lock);
        if (i < 0) return;
        Pending *p = &w->pending[i];
        if (p->obj) continue;
        if (tm) p->obj = emit_object(p->module, tm, &p->why);
        else sb_puts(&p->why, no_tm);
    }
}

/* Each extra worker has its own target machine (a TargetMachine is not safe
 * to share between threads) and each module its own context, so no LLVM
 * state is shared between workers. */
static void *compile_worker(void *arg) {
    StrBuf why = {0};
    LLVMTargetMachineRef tm = cg_target_machine(NULL, NULL, false, &why);
    drain(arg, tm, why.data ? why.data : "cannot create a target machine");
    if (tm) LLVMDisposeTargetMachine(tm);
    sb_free(&why);
    return NULL;
}

/* Compiles the modules that the cache did not have, on up to one thread per core. */
static void compile_missing(Pending *pending, int n, int missing, LLVMTargetMachineRef tm) {
    Workers w = {.pending = pending, .n = n};
    pthread_mutex_init(&w.lock, NULL);
    enum { MAX_THREADS = 16 };
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long extra = (cores < missing ? cores : missing) - 1;
    pthread_t threads[MAX_THREADS];
    int started = 0;
    while (started < extra && started < MAX_THREADS &&
           pthread_create(&threads[started], NULL, compile_worker, &w) == 0)
        started++;
    drain(&w, tm, "");
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
    pthread_mutex_destroy(&w.lock);
}

bool jit_load_cached(Jit *j, int n, const ObjCacheKey *source_keys, const char *const *step_names,
                     RlcStepFn *fns, StrBuf *why) {
    if (!j->cache_dir || n <= 0) return false;
    LLVMMemoryBufferRef *objs = calloc((size_t)n, sizeof *objs);
    int found = 0;
    while (objs && found < n && (objs[found] = objcache_get(j->cache_dir, &source_keys[found]))) found++;
    bool ok = found == n;
    for (int i = 0; i < n; i++) {
        /* the JIT takes each object, added or not */
        fns[i] = ok ? add_object(j, objs[i], step_names[i], why) : NULL;
        if (!ok && i < found) LLVMDisposeMemoryBuffer(objs[i]);
        ok = ok && fns[i];
    }
    free(objs);
    if (ok) j->cache_hits += n;
    return ok;
}

bool jit_compile_many(Jit *j, int n, LLVMModuleRef *modules, const char *const *step_names,
                      RlcStepFn *fns, StrBuf *why) {
    return jit_compile_many_keyed(j, n, modules, step_names, NULL, fns, why);
}

bool jit_compile_many_keyed(Jit *j, int n, LLVMModuleRef *modules, const char *const *step_names,
                            const ObjCacheKey *source_keys, RlcStepFn *fns, StrBuf *why) {
    Pending *pending = calloc((size_t)(n > 0 ? n : 1), sizeof *pending);
    bool ok = pending != NULL;
    if (!ok) sb_puts(why, "out of memory");
    int missing = 0;
    for (int i = 0; ok && i < n; i++) {
        Pending *p = &pending[i];
        set_target(j, modules[i]);
        p->module = modules[i];
        if (j->cache_dir) {
            p->key = objcache_key(p->module, j->tm, cg_pipeline());
            p->obj = objcache_get(j->cache_dir, &p->key);
            p->from_cache = p->obj != NULL;
            j->cache_hits += p->from_cache;
            j->cache_misses += !p->from_cache;
        }
        /* only code that LLVM will compile needs verifying (a hit's module is dropped) */
        if (!p->obj) ok = verify(modules[i], why);
        missing += p->obj == NULL;
    }
    if (ok && missing) compile_missing(pending, n, missing, j->tm);
    for (int i = 0; i < n; i++) {
        Pending *p = pending ? &pending[i] : NULL;
        if (ok && !p->obj) {
            sb_puts(why, p->why.data ? p->why.data : "compiling a step failed");
            ok = false;
        }
        if (ok && j->cache_dir && !p->from_cache) objcache_put(j->cache_dir, &p->key, p->obj);
        if (ok && j->cache_dir && source_keys) objcache_put(j->cache_dir, &source_keys[i], p->obj);
        fns[i] = ok ? add_object(j, p->obj, step_names[i], why) : NULL;
        if (!ok && p && p->obj) LLVMDisposeMemoryBuffer(p->obj);
        ok = ok && fns[i];
        LLVMDisposeModule(modules[i]);
        if (p) sb_free(&p->why);
    }
    free(pending);
    return ok;
}

RlcStepFn jit_compile(Jit *j, LLVMModuleRef m, const char *step_name, StrBuf *why) {
    RlcStepFn fn = NULL;
    jit_compile_many(j, 1, &m, &step_name, &fn, why);
    return fn;
}

bool jit_emit_asm(Jit *j, LLVMModuleRef m, StrBuf *out, StrBuf *why) {
    LLVMModuleRef copy = LLVMCloneModule(m);
    set_target(j, copy);
    bool ok = cg_optimize(copy, j->tm, why);
    LLVMMemoryBufferRef buf = NULL;
    char *msg = NULL;
    if (ok && LLVMTargetMachineEmitToMemoryBuffer(j->tm, copy, LLVMAssemblyFile, &msg, &buf)) {
        sb_printf(why, "emitting assembly: %s", msg);
        ok = false;
    }
    LLVMDisposeMessage(msg);
    if (ok) {
        size_t n = LLVMGetBufferSize(buf);
        const char *s = LLVMGetBufferStart(buf);
        sb_printf(out, "%.*s", (int)n, s);
        LLVMDisposeMemoryBuffer(buf);
    }
    LLVMDisposeModule(copy);
    return ok;
}
