/* jit.c — ORC LLJIT for the step functions of `rlc run`.
 *
 * One LLJIT per compilation, one thread-safe context for all its modules.
 * Runtime and OpenBLAS symbols are defined as absolute addresses taken here, so
 * the JIT finds them without -rdynamic and the linker cannot drop OpenBLAS
 * under --as-needed (notes/llvm-19.md §6.4, §6.5); libc/libm symbols that LLVM
 * itself introduces (expf, memset) come from the process search generator.
 * Every LLVM error becomes a message in *why; nothing here prints or aborts.
 */
#include "kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>

struct Jit {
    LLVMOrcLLJITRef lljit;
    LLVMOrcThreadSafeContextRef tsctx;
    LLVMTargetMachineRef tm;  /* for passes and assembly; the JIT owns its own */
    StrBuf session_errors;    /* what the execution session reported */
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
    {"rt_im2col", (void *)rt_im2col},
    {"rt_parallel_for", (void *)rt_parallel_for},
    {"rt_update_sgd_rows", (void *)rt_update_sgd_rows},
    {"rt_update_adam_rows", (void *)rt_update_adam_rows},
    {"rt_sgemm", (void *)rt_sgemm},
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
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
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
    free(j);
}

LLVMContextRef jit_context(Jit *j) { return LLVMOrcThreadSafeContextGetContext(j->tsctx); }

static void set_target(Jit *j, LLVMModuleRef m) {
    LLVMSetTarget(m, LLVMOrcLLJITGetTripleString(j->lljit));
    LLVMSetDataLayout(m, LLVMOrcLLJITGetDataLayoutStr(j->lljit));
}

RlcStepFn jit_compile(Jit *j, LLVMModuleRef m, const char *step_name, StrBuf *why) {
    set_target(j, m);
    char *msg = NULL;
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        sb_printf(why, "generated code does not verify: %s", msg);
        LLVMDisposeMessage(msg);
        LLVMDisposeModule(m);
        return NULL;
    }
    LLVMDisposeMessage(msg);
    if (!cg_optimize(m, j->tm, why)) {
        LLVMDisposeModule(m);
        return NULL;
    }
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(m, j->tsctx);
    if (take_error(LLVMOrcLLJITAddLLVMIRModule(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit),
                                               tsm),
                   "adding the module", why))
        return NULL;
    LLVMOrcExecutorAddress addr = 0;
    j->session_errors.len = 0;
    if (take_error(LLVMOrcLLJITLookup(j->lljit, &addr, step_name), "looking up the step", why)) {
        if (j->session_errors.len) sb_printf(why, " (%s)", j->session_errors.data);
        return NULL;
    }
    return (RlcStepFn)(uintptr_t)addr;
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
