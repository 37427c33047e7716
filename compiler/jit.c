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
#include "phases.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <unistd.h>

/* Below this many instructions a part costs more to split off (the module's bitcode
 * written and read back) than its compile on another core saves. */
enum { DEFAULT_MIN_PART = 2000 };

struct Jit {
    LLVMOrcLLJITRef lljit;
    LLVMOrcThreadSafeContextRef tsctx;
    LLVMTargetMachineRef tm;  /* for passes and assembly; the JIT owns its own */
    StrBuf session_errors;    /* what the execution session reported */
    char *cache_dir;          /* NULL: no object cache */
    int cache_hits, cache_misses;
    int threads;              /* compile workers: one per core */
    long min_part;            /* instructions: no module is split into smaller parts */
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
    {"rt_mpi_update_bound", (void *)rt_mpi_update_bound},
    {"rt_mpi_update_fence", (void *)rt_mpi_update_fence},
    {"rt_parallel_slice", (void *)rt_parallel_slice},
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
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    jit_set_parallelism(j, cores > 16 ? 16 : (int)cores, DEFAULT_MIN_PART);
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
/* The glue of a step (jit.c split_module: the step function and its wrappers, with
 * no floating-point arithmetic) is optimised this little and compiled by
 * CodeGenLevelNone (FastISel): it runs once a step or once a range of rows, and at
 * O2 it took a third of a large module's compile. */
#define GLUE_PIPELINE "function(sroa,early-cse,simplifycfg)"

/* Optimises m and emits its object code with tm (glue: GLUE_PIPELINE, and tm is
 * one of level None); m stays the caller's. */
static LLVMMemoryBufferRef emit_object(LLVMModuleRef m, LLVMTargetMachineRef tm, bool glue, StrBuf *why) {
    PhaseClock t = phase_start();
    bool optimized = true;
    if (glue) {
        LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
        optimized = !take_error(LLVMRunPasses(m, GLUE_PIPELINE, tm, opts), "optimizing", why);
        LLVMDisposePassBuilderOptions(opts);
    } else {
        optimized = cg_optimize(m, tm, why);
    }
    phase_end(t, "optimize %s", LLVMGetModuleIdentifier(m, &(size_t){0}));
    if (!optimized) return NULL;
    LLVMMemoryBufferRef obj = NULL;
    char *msg = NULL;
    t = phase_start();
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMObjectFile, &msg, &obj)) {
        sb_printf(why, "emitting object code: %s", msg);
        obj = NULL;
    }
    phase_end(t, "machine code of %s", LLVMGetModuleIdentifier(m, &(size_t){0}));
    LLVMDisposeMessage(msg);
    return obj;
}

/* ------------------------------------------------------- modules in parts */

/* A module, or a part of one, that one worker optimises and compiles. */
typedef struct Part {
    LLVMModuleRef module;
    LLVMContextRef context; /* a part after the first: its own, disposed with it */
    long instructions;      /* the scheduling weight */
    bool glue;              /* no kernel, no floating-point arithmetic: compiled cheaply */
    LLVMMemoryBufferRef obj;
    StrBuf why;
    /* a part after the first of a split module, made by its worker (make_part):
     * from the whole's bitcode, defining the kernels that shares sends to index */
    LLVMMemoryBufferRef bitcode;
    const struct KernelShare *shares;
    int n_shares, index;
    char whole[128]; /* the whole module's name */
} Part;

enum { MAX_PARTS = 4 };

static long function_instructions(LLVMValueRef f) {
    long n = 0;
    for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b))
        for (LLVMValueRef i = LLVMGetFirstInstruction(b); i; i = LLVMGetNextInstruction(i)) n++;
    return n;
}

static long module_instructions(LLVMModuleRef m) {
    long n = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) n += function_instructions(f);
    return n;
}

static bool is_kernel(LLVMValueRef f) {
    size_t n;
    const char *name = LLVMGetValueName2(f, &n);
    return !LLVMIsDeclaration(f) && LLVMGetLinkage(f) == LLVMExternalLinkage &&
           objcache_named_by_its_code(name, n);
}

static bool is_floating(LLVMTypeRef t) {
    LLVMTypeKind k = LLVMGetTypeKind(t);
    if (k == LLVMVectorTypeKind || k == LLVMScalableVectorTypeKind) k = LLVMGetTypeKind(LLVMGetElementType(t));
    return k == LLVMHalfTypeKind || k == LLVMBFloatTypeKind || k == LLVMFloatTypeKind ||
           k == LLVMDoubleTypeKind || k == LLVMX86_FP80TypeKind || k == LLVMFP128TypeKind ||
           k == LLVMPPC_FP128TypeKind;
}

/* Whether an instruction of f computes with floating-point values: arithmetic,
 * comparisons, conversions, or an intrinsic with a floating-point operand or result
 * (llvm.fmuladd may fuse or not by the code-generation level). Moving a value
 * (load, store, select, phi) or calling a function keeps its bits at any level. */
static bool computes_floats(LLVMValueRef f) {
    for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b))
        for (LLVMValueRef i = LLVMGetFirstInstruction(b); i; i = LLVMGetNextInstruction(i)) {
            switch (LLVMGetInstructionOpcode(i)) {
            case LLVMFAdd: case LLVMFSub: case LLVMFMul: case LLVMFDiv: case LLVMFRem: case LLVMFNeg:
            case LLVMFCmp: case LLVMFPToUI: case LLVMFPToSI: case LLVMUIToFP: case LLVMSIToFP:
            case LLVMFPTrunc: case LLVMFPExt:
                return true;
            case LLVMCall: {
                LLVMValueRef callee = LLVMGetCalledValue(i);
                if (!LLVMIsAFunction(callee) || !LLVMGetIntrinsicID(callee)) break;
                if (is_floating(LLVMTypeOf(i))) return true;
                for (unsigned k = 0; k < LLVMGetNumArgOperands(i); k++)
                    if (is_floating(LLVMTypeOf(LLVMGetOperand(i, k)))) return true;
                break;
            }
            default: break;
            }
        }
    return false;
}

bool jit_glue_computes_floats(LLVMModuleRef m) {
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
        if (!LLVMIsDeclaration(f) && !is_kernel(f) && computes_floats(f)) return true;
    return false;
}

/* Replaces the definition f by a declaration of the same name, type, calling
 * convention and attributes, which its callers then call. */
static void declare_instead(LLVMModuleRef m, LLVMValueRef f) {
    size_t n;
    const char *name = LLVMGetValueName2(f, &n);
    char saved[128];
    snprintf(saved, sizeof saved, "%.*s", (int)n, name);
    LLVMValueRef decl = LLVMAddFunction(m, "", LLVMGlobalGetValueType(f));
    LLVMSetFunctionCallConv(decl, LLVMGetFunctionCallConv(f));
    unsigned params = LLVMCountParams(f);
    for (long idx = LLVMAttributeFunctionIndex; idx <= (long)params; idx++) {
        unsigned count = LLVMGetAttributeCountAtIndex(f, (LLVMAttributeIndex)idx);
        LLVMAttributeRef attrs[64];
        if (count == 0 || count > 64) continue;
        LLVMGetAttributesAtIndex(f, (LLVMAttributeIndex)idx, attrs);
        for (unsigned k = 0; k < count; k++) LLVMAddAttributeAtIndex(decl, (LLVMAttributeIndex)idx, attrs[k]);
    }
    LLVMReplaceAllUsesWith(f, decl);
    LLVMDeleteFunction(f);
    LLVMSetValueName2(decl, saved, strlen(saved));
}

/* One kernel of a module being split and the part it goes to. */
typedef struct KernelShare {
    LLVMValueRef fn; /* in the whole module, until the parts are queued */
    char *name;      /* fn's: the worker making a part finds its kernels by name */
    long instructions;
    int part;
} KernelShare;

static int larger_first(const void *a, const void *b) {
    long x = ((const KernelShare *)a)->instructions, y = ((const KernelShare *)b)->instructions;
    return (x < y) - (x > y);
}

/* Whether f is a kernel that `shares` sends to part k. */
static bool kept_in(LLVMValueRef f, const KernelShare *shares, int n, int k) {
    size_t len;
    const char *name = LLVMGetValueName2(f, &len);
    for (int i = 0; i < n; i++)
        if (shares[i].part == k && strlen(shares[i].name) == len && memcmp(name, shares[i].name, len) == 0)
            return true;
    return false;
}

/* Part k's module, made by the worker that claims it: a copy of the whole (parsed
 * from its bitcode into a context of its own) that defines only the kernels sent
 * to k. Whatever else it defined (the step, its wrappers and constants) is
 * deleted once nothing calls it. */
static bool make_part(Part *part, StrBuf *why) {
    PhaseClock t = phase_start();
    part->context = LLVMContextCreate();
    if (LLVMParseBitcodeInContext2(part->context, part->bitcode, &part->module)) {
        sb_puts(why, "splitting a module: its bitcode does not read back");
        LLVMContextDispose(part->context);
        part->context = NULL;
        part->module = NULL;
        return false;
    }
    LLVMModuleRef m = part->module;
    char name[160];
    snprintf(name, sizeof name, "%s, part %d", part->whole, part->index + 1);
    LLVMSetModuleIdentifier(m, name, strlen(name));
    const KernelShare *shares = part->shares;
    int n = part->n_shares, k = part->index;
    for (bool deleted = true; deleted;) {
        deleted = false;
        for (LLVMValueRef f = LLVMGetFirstFunction(m), next; f; f = next) {
            next = LLVMGetNextFunction(f);
            if (!LLVMIsDeclaration(f) && !LLVMGetFirstUse(f) && !kept_in(f, shares, n, k)) {
                LLVMDeleteFunction(f);
                deleted = true;
            }
        }
    }
    for (LLVMValueRef f = LLVMGetFirstFunction(m), next; f; f = next) {
        next = LLVMGetNextFunction(f);
        if (!LLVMIsDeclaration(f) && !kept_in(f, shares, n, k)) declare_instead(m, f);
    }
    for (LLVMValueRef g = LLVMGetFirstGlobal(m), next; g; g = next) {
        next = LLVMGetNextGlobal(g);
        if (!LLVMGetFirstUse(g)) LLVMDeleteGlobal(g);
    }
    phase_end(t, "split off %s", name);
    return true;
}

/* The glue's instructions cost about this fraction of a kernel's at level None
 * (gpt.rl's step module: 0.42 s of llc at O2, 0.11 s at O0). */
enum { GLUE_COST_DIVISOR = 4 };

/* m's instructions as the workers will feel them: the glue's at GLUE_COST_DIVISOR
 * less where it is compiled as glue. */
static long module_weight(LLVMModuleRef m) {
    long kernels = 0, glue = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        if (is_kernel(f)) kernels += function_instructions(f);
        else glue += function_instructions(f);
    }
    return kernels + (!jit_glue_computes_floats(m) ? glue / GLUE_COST_DIVISOR : glue);
}

/* What a split leaves for the workers: the whole module's bitcode and where each
 * kernel goes, which the parts after the first read (freed once all are compiled). */
typedef struct Split {
    LLVMMemoryBufferRef bitcode;
    KernelShare *shares;
    int n_shares;
} Split;

static void split_free(Split *s) {
    for (int i = 0; s->shares && i < s->n_shares; i++) free(s->shares[i].name);
    free(s->shares);
    if (s->bitcode) LLVMDisposeMemoryBuffer(s->bitcode);
    *s = (Split){0};
}

/* Splits m so that several workers compile it and its glue compiles cheaply. Its
 * kernels (each self-contained: it calls no other kernel and names no global) are
 * spread, largest first, over the parts with the fewest instructions so far, each
 * part of about `target` instructions, up to MAX_PARTS. When the glue (the step,
 * its wrappers) computes no floats, part 0 (m itself) keeps the glue alone and is
 * compiled as glue; else it keeps the glue with its share of kernels. The parts
 * after the first are made by the workers (make_part) from m's bitcode (*bitcode
 * when the caller wrote it, which is then taken, else written here), kept in *split. A kernel's code is the same in any module (the pipeline is function
 * passes only), so the objects run as m's would. Returns the number of parts
 * (1: m alone), 0 with a message in why on failure. */
static int split_module(LLVMModuleRef m, LLVMMemoryBufferRef *bitcode, long target, Part *parts, Split *split,
                        StrBuf *why) {
    bool glue_alone = !jit_glue_computes_floats(m);
    long instructions = module_instructions(m);
    parts[0] = (Part){.module = m, .instructions = instructions};
    int n = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) n += is_kernel(f);
    if (n == 0) {
        parts[0].glue = glue_alone;
        if (glue_alone) parts[0].instructions /= GLUE_COST_DIVISOR;
        return 1;
    }
    KernelShare *shares = calloc((size_t)n, sizeof *shares);
    if (!shares) return 1;
    n = 0;
    long load[MAX_PARTS] = {instructions}, kernels = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        if (!is_kernel(f)) continue;
        shares[n] = (KernelShare){.fn = f, .instructions = function_instructions(f)};
        kernels += shares[n++].instructions;
    }
    load[0] -= kernels;
    long share = glue_alone ? kernels : instructions;
    int first = glue_alone ? 1 : 0;
    int wanted = target > 0 ? (int)((share + target - 1) / target) : 1;
    if (wanted < 1) wanted = 1;
    if (first + wanted > MAX_PARTS) wanted = MAX_PARTS - first;
    qsort(shares, (size_t)n, sizeof *shares, larger_first);
    /* among equal loads the first part wins, so the parts used are 0..used-1 */
    int used = 1;
    for (int i = 0; i < n; i++) {
        int best = first;
        for (int k = first + 1; k < first + wanted; k++)
            if (load[k] < load[best]) best = k;
        shares[i].part = best;
        load[best] += shares[i].instructions;
        if (best + 1 > used) used = best + 1;
    }
    *split = (Split){.shares = shares, .n_shares = n};
    if (used == 1) {
        split_free(split);
        return 1;
    }
    bool ok = true;
    for (int i = 0; ok && i < n; i++) {
        size_t len;
        const char *name = LLVMGetValueName2(shares[i].fn, &len);
        ok = (shares[i].name = strndup(name, len)) != NULL;
    }
    if (ok && *bitcode) {
        split->bitcode = *bitcode; /* taken */
        *bitcode = NULL;
    } else split->bitcode = ok ? LLVMWriteBitcodeToMemoryBuffer(m) : NULL;
    if (!split->bitcode) {
        split_free(split);
        sb_puts(why, "splitting a module: out of memory");
        return 0;
    }
    size_t len;
    const char *id = LLVMGetModuleIdentifier(m, &len);
    for (int k = 1; k < used; k++) {
        parts[k] = (Part){.instructions = load[k], .bitcode = split->bitcode, .shares = shares, .n_shares = n,
                          .index = k};
        snprintf(parts[k].whole, sizeof parts[k].whole, "%.*s", (int)len, id);
    }
    for (int i = 0; i < n; i++)
        if (shares[i].part != 0) declare_instead(m, shares[i].fn);
    parts[0].glue = glue_alone;
    parts[0].instructions = glue_alone ? load[0] / GLUE_COST_DIVISOR : load[0];
    return used;
}

/* The objects of a module compiled in parts as one cache entry: the magic, the
 * count, then each object's size and bytes. (An object file starts otherwise.) */
#define PARTS_MAGIC "RLCPART\n"
enum { PARTS_MAGIC_BYTES = 8 };

static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static LLVMMemoryBufferRef pack_parts(const Part *parts, int n) {
    size_t size = PARTS_MAGIC_BYTES + 8;
    for (int k = 0; k < n; k++) size += 8 + LLVMGetBufferSize(parts[k].obj);
    unsigned char *bytes = malloc(size);
    if (!bytes) return NULL;
    memcpy(bytes, PARTS_MAGIC, PARTS_MAGIC_BYTES);
    put_le64(bytes + PARTS_MAGIC_BYTES, (uint64_t)n);
    size_t at = PARTS_MAGIC_BYTES + 8;
    for (int k = 0; k < n; k++) {
        size_t len = LLVMGetBufferSize(parts[k].obj);
        put_le64(bytes + at, len);
        memcpy(bytes + at + 8, LLVMGetBufferStart(parts[k].obj), len);
        at += 8 + len;
    }
    LLVMMemoryBufferRef packed = LLVMCreateMemoryBufferWithMemoryRangeCopy((const char *)bytes, size, "parts");
    free(bytes);
    return packed;
}

/* The objects of a cache entry (which this takes): the entry itself, or the parts
 * that pack_parts put in it. 0 when the entry is malformed. */
static int entry_objects(LLVMMemoryBufferRef entry, LLVMMemoryBufferRef objs[MAX_PARTS]) {
    const unsigned char *bytes = (const unsigned char *)LLVMGetBufferStart(entry);
    size_t size = LLVMGetBufferSize(entry);
    if (size < PARTS_MAGIC_BYTES + 8 || memcmp(bytes, PARTS_MAGIC, PARTS_MAGIC_BYTES) != 0) {
        objs[0] = entry;
        return 1;
    }
    uint64_t n = get_le64(bytes + PARTS_MAGIC_BYTES);
    size_t at = PARTS_MAGIC_BYTES + 8;
    int got = 0;
    while (n <= MAX_PARTS && (uint64_t)got < n && size - at >= 8) {
        uint64_t len = get_le64(bytes + at);
        if (len > size - at - 8) break;
        objs[got++] = LLVMCreateMemoryBufferWithMemoryRangeCopy((const char *)bytes + at + 8, len, "part");
        at += 8 + len;
    }
    bool whole = n <= MAX_PARTS && (uint64_t)got == n && at == size;
    if (!whole)
        while (got) LLVMDisposeMemoryBuffer(objs[--got]);
    LLVMDisposeMemoryBuffer(entry);
    return got;
}

/* Adds a module's objects (which the JIT takes) and returns the address of step_name. */
static RlcStepFn add_objects(Jit *j, LLVMMemoryBufferRef *objs, int n, const char *step_name, StrBuf *why) {
    bool ok = true;
    for (int k = 0; k < n; k++) {
        if (!ok) {
            LLVMDisposeMemoryBuffer(objs[k]);
            continue;
        }
        ok = !take_error(LLVMOrcLLJITAddObjectFile(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit), objs[k]),
                         "adding the object", why);
    }
    if (!ok) return NULL;
    LLVMOrcExecutorAddress addr = 0;
    j->session_errors.len = 0;
    if (take_error(LLVMOrcLLJITLookup(j->lljit, &addr, step_name), "looking up the step", why)) {
        if (j->session_errors.len) sb_printf(why, " (%s)", j->session_errors.data);
        return NULL;
    }
    return (RlcStepFn)(uintptr_t)addr;
}

/* One module of a batch: found in the cache, or compiled (in parts) by the workers. */
typedef struct Pending {
    LLVMModuleRef module;
    ObjCacheKey key;
    LLVMMemoryBufferRef entry; /* from the cache */
    Part parts[MAX_PARTS];
    int n_parts;
    Split split;
} Pending;

/* The parts to compile, queued as the modules are added: the workers take the
 * heaviest queued while later modules are still being emitted. */
typedef struct Workers {
    Part **queue;
    int n;
    int next;    /* the next part to claim */
    bool closed; /* no more parts will come */
    pthread_mutex_t lock;
    pthread_cond_t more;
} Workers;

/* A target machine like tm (CPU, features, triple) at code-generation level None. */
static LLVMTargetMachineRef glue_machine(LLVMTargetMachineRef tm) {
    char *triple = LLVMGetTargetMachineTriple(tm);
    char *cpu = LLVMGetTargetMachineCPU(tm);
    char *features = LLVMGetTargetMachineFeatureString(tm);
    LLVMTargetRef target = LLVMGetTargetMachineTarget(tm);
    LLVMTargetMachineRef glue = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelNone,
                                                        LLVMRelocDefault, LLVMCodeModelJITDefault);
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    return glue;
}

/* Claims parts one at a time, the heaviest queued first, waiting for more until
 * the queue is closed, and compiles them (making a split-off part first); glue with a
 * target machine of level None, made on the first glue part. */
static void drain(Workers *w, LLVMTargetMachineRef tm, const char *no_tm) {
    LLVMTargetMachineRef glue_tm = NULL;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (w->next == w->n && !w->closed) pthread_cond_wait(&w->more, &w->lock);
        /* the heaviest part queued so far: once all are queued, largest first */
        int heaviest = w->next;
        for (int k = w->next + 1; k < w->n; k++)
            if (w->queue[k]->instructions > w->queue[heaviest]->instructions) heaviest = k;
        if (heaviest < w->n) {
            Part *claimed = w->queue[heaviest];
            w->queue[heaviest] = w->queue[w->next];
            w->queue[w->next] = claimed;
        }
        int i = w->next < w->n ? w->next++ : -1;
        pthread_mutex_unlock(&w->lock);
        if (i < 0) break;
        Part *p = w->queue[i];
        if (!p->module && !make_part(p, &p->why)) continue;
        if (tm && p->glue && !glue_tm) glue_tm = glue_machine(tm);
        LLVMTargetMachineRef use = p->glue ? glue_tm : tm;
        if (use) p->obj = emit_object(p->module, use, p->glue, &p->why);
        else sb_puts(&p->why, tm ? "cannot create a target machine" : no_tm);
    }
    if (glue_tm) LLVMDisposeTargetMachine(glue_tm);
}

/* Each extra worker has its own target machine (a TargetMachine is not safe
 * to share between threads) and each module or part its own context, so no
 * LLVM state is shared between workers, or with the thread emitting modules. */
static void *compile_worker(void *arg) {
    StrBuf why = {0};
    LLVMTargetMachineRef tm = cg_target_machine(NULL, NULL, false, &why);
    drain(arg, tm, why.data ? why.data : "cannot create a target machine");
    if (tm) LLVMDisposeTargetMachine(tm);
    sb_free(&why);
    return NULL;
}

enum { MAX_THREADS = 16 };

struct JitBatch {
    Jit *j;
    int n, added;
    const char *const *step_names;
    const ObjCacheKey *source_keys; /* NULL: none */
    Pending *pending;
    Workers w;
    pthread_t threads[MAX_THREADS];
    int started;
    bool sync_ready; /* w's lock and condition initialised */
    long target;     /* the split's part size: 0 until the first module compiled */
    bool ok;
};

static char compile_settings[512];

static void describe_compile_settings(void) {
    StrBuf sb = {0};
    sb_printf(&sb, "%s, ", cg_pipeline());
    cg_describe_codegen(&sb);
    sb_printf(&sb, "; glue: %s, level None", GLUE_PIPELINE);
    snprintf(compile_settings, sizeof compile_settings, "%s", sb.data);
    sb_free(&sb);
}

const char *jit_compile_settings(void) {
    static pthread_once_t described = PTHREAD_ONCE_INIT;
    pthread_once(&described, describe_compile_settings);
    return compile_settings;
}

void jit_set_parallelism(Jit *j, int threads, long min_part_instructions) {
    j->threads = threads > 0 ? threads : 1;
    j->min_part = min_part_instructions;
}

JitBatch *jit_batch_start(Jit *j, int n, const char *const *step_names, const ObjCacheKey *source_keys) {
    JitBatch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    *b = (JitBatch){.j = j, .n = n, .step_names = step_names, .source_keys = source_keys, .ok = true};
    b->pending = calloc((size_t)(n > 0 ? n : 1), sizeof *b->pending);
    b->w.queue = malloc(sizeof *b->w.queue * (size_t)(MAX_PARTS * n + 1));
    b->sync_ready = pthread_mutex_init(&b->w.lock, NULL) == 0;
    if (b->sync_ready && pthread_cond_init(&b->w.more, NULL) != 0) {
        pthread_mutex_destroy(&b->w.lock);
        b->sync_ready = false;
    }
    if (!b->pending || !b->w.queue || !b->sync_ready) {
        if (b->sync_ready) {
            pthread_cond_destroy(&b->w.more);
            pthread_mutex_destroy(&b->w.lock);
        }
        free(b->pending);
        free(b->w.queue);
        free(b);
        return NULL;
    }
    return b;
}

/* Queues a module's parts for the workers, starting them on the first. */
static void enqueue(JitBatch *b, Pending *p) {
    pthread_mutex_lock(&b->w.lock);
    for (int k = 1; k < p->n_parts; k++) b->w.queue[b->w.n++] = &p->parts[k];
    /* the split-off kernels first: part 0 is the glue, the cheapest */
    b->w.queue[b->w.n++] = &p->parts[0];
    pthread_cond_broadcast(&b->w.more);
    pthread_mutex_unlock(&b->w.lock);
    long extra = b->j->threads - 1;
    while (b->started < extra && b->started < MAX_THREADS &&
           pthread_create(&b->threads[b->started], NULL, compile_worker, &b->w) == 0)
        b->started++;
}

bool jit_batch_add(JitBatch *b, LLVMModuleRef m, StrBuf *why) {
    Jit *j = b->j;
    int i = b->added++;
    Pending *p = &b->pending[i];
    p->module = m;
    if (!b->ok) return false;
    PhaseClock t = phase_start();
    set_target(j, m);
    /* the key hashes the bitcode, which a split needs too: written once */
    LLVMMemoryBufferRef bitcode = NULL;
    if (j->cache_dir) {
        bitcode = LLVMWriteBitcodeToMemoryBuffer(m);
        p->key = objcache_key_of_bitcode(bitcode, j->tm, jit_compile_settings());
        p->entry = objcache_get(j->cache_dir, &p->key);
        j->cache_hits += p->entry != NULL;
        j->cache_misses += !p->entry;
    }
    /* only code that LLVM will compile needs verifying (a hit's module is dropped) */
    if (p->entry) {
        LLVMDisposeMemoryBuffer(bitcode);
        phase_end(t, "hash %s (cached)", b->step_names[i]);
        return true;
    }
    b->ok = verify(m, why);
    /* parts of about a quarter of the first compiled module (the first train stage,
     * which defines most kernels) per core, so that it no longer compiles alone on
     * one core, and the workers start on it while the later modules are emitted */
    if (b->ok && b->target == 0) {
        b->target = j->threads > 1 ? module_weight(m) / (2 * j->threads) : 0;
        if (b->target < j->min_part) b->target = j->min_part;
    }
    if (b->ok) b->ok = (p->n_parts = split_module(m, &bitcode, b->target, p->parts, &p->split, why)) > 0;
    if (bitcode) LLVMDisposeMemoryBuffer(bitcode);
    phase_end(t, "hash, verify and split %s (%d parts)", b->step_names[i], p->n_parts);
    if (b->ok) enqueue(b, p);
    return b->ok;
}

/* Stores a compiled module's objects under its key (and source key). */
static void store(Jit *j, const Pending *p, const ObjCacheKey *source_key) {
    LLVMMemoryBufferRef packed = p->n_parts > 1 ? pack_parts(p->parts, p->n_parts) : NULL;
    LLVMMemoryBufferRef entry = p->n_parts > 1 ? packed : p->parts[0].obj;
    if (!entry) return;
    objcache_put(j->cache_dir, &p->key, entry);
    if (source_key) objcache_put(j->cache_dir, source_key, entry);
    if (packed) LLVMDisposeMemoryBuffer(packed);
}

bool jit_batch_finish(JitBatch *b, RlcStepFn *fns, StrBuf *why) {
    Jit *j = b->j;
    bool ok = b->ok && b->added == b->n;
    PhaseClock t = phase_start();
    pthread_mutex_lock(&b->w.lock);
    b->w.closed = true;
    pthread_cond_broadcast(&b->w.more);
    pthread_mutex_unlock(&b->w.lock);
    drain(&b->w, j->tm, "");
    for (int k = 0; k < b->started; k++) pthread_join(b->threads[k], NULL);
    phase_end(t, "compile %d parts (the rest, all workers)", b->w.n);
    t = phase_start();
    for (int i = 0; i < b->added; i++) {
        Pending *p = &b->pending[i];
        for (int k = 0; ok && k < p->n_parts; k++)
            if (!p->parts[k].obj) {
                sb_puts(why, p->parts[k].why.data ? p->parts[k].why.data : "compiling a step failed");
                ok = false;
            }
        LLVMMemoryBufferRef objs[MAX_PARTS];
        int n_objs = 0;
        if (p->entry) {
            if (ok && j->cache_dir && b->source_keys) objcache_put(j->cache_dir, &b->source_keys[i], p->entry);
            n_objs = entry_objects(p->entry, objs);
            /* a damaged entry that passed its checksum: never written by this rlc */
            if (ok && n_objs == 0) {
                sb_puts(why, "a damaged entry in the object cache; run again");
                ok = false;
            }
        } else {
            if (ok && j->cache_dir) store(j, p, b->source_keys ? &b->source_keys[i] : NULL);
            for (int k = 0; k < p->n_parts; k++) objs[n_objs++] = p->parts[k].obj;
        }
        fns[i] = ok ? add_objects(j, objs, n_objs, b->step_names[i], why) : NULL;
        if (!ok)
            for (int k = 0; k < n_objs; k++)
                if (objs[k]) LLVMDisposeMemoryBuffer(objs[k]);
        ok = ok && fns[i];
        LLVMDisposeModule(p->module);
        for (int k = 1; k < p->n_parts; k++) {
            if (p->parts[k].module) LLVMDisposeModule(p->parts[k].module);
            if (p->parts[k].context) LLVMContextDispose(p->parts[k].context);
        }
        for (int k = 0; k < MAX_PARTS; k++) sb_free(&p->parts[k].why);
        split_free(&p->split);
    }
    for (int i = b->added; i < b->n; i++) fns[i] = NULL;
    phase_end(t, "store and link %d modules", b->added);
    pthread_cond_destroy(&b->w.more);
    pthread_mutex_destroy(&b->w.lock);
    free(b->w.queue);
    free(b->pending);
    free(b);
    return ok;
}

bool jit_load_cached(Jit *j, int n, const ObjCacheKey *source_keys, const char *const *step_names,
                     RlcStepFn *fns, StrBuf *why) {
    if (!j->cache_dir || n <= 0) return false;
    LLVMMemoryBufferRef *entries = calloc((size_t)n, sizeof *entries);
    int found = 0;
    while (entries && found < n && (entries[found] = objcache_get(j->cache_dir, &source_keys[found]))) found++;
    bool ok = found == n;
    for (int i = 0; i < n; i++) {
        LLVMMemoryBufferRef objs[MAX_PARTS];
        int parts = ok ? entry_objects(entries[i], objs) : 0;
        if (!ok && i < found) LLVMDisposeMemoryBuffer(entries[i]);
        /* a malformed entry was found too late to compile instead: a miss */
        if (ok && parts == 0) {
            sb_puts(why, "a damaged entry in the object cache; run again");
            ok = false;
        }
        fns[i] = ok ? add_objects(j, objs, parts, step_names[i], why) : NULL;
        ok = ok && fns[i];
    }
    free(entries);
    if (ok) j->cache_hits += n;
    return ok;
}

bool jit_compile_many(Jit *j, int n, LLVMModuleRef *modules, const char *const *step_names,
                      RlcStepFn *fns, StrBuf *why) {
    return jit_compile_many_keyed(j, n, modules, step_names, NULL, fns, why);
}

bool jit_compile_many_keyed(Jit *j, int n, LLVMModuleRef *modules, const char *const *step_names,
                            const ObjCacheKey *source_keys, RlcStepFn *fns, StrBuf *why) {
    JitBatch *b = jit_batch_start(j, n, step_names, source_keys);
    if (!b) {
        for (int i = 0; i < n; i++) LLVMDisposeModule(modules[i]);
        sb_puts(why, "out of memory");
        return false;
    }
    for (int i = 0; i < n; i++) jit_batch_add(b, modules[i], why);
    return jit_batch_finish(b, fns, why);
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
