/* test_jit.c — the JIT and object emission: vector code for elementwise
 * kernels, kernels shared between the modules of one JIT, object files for
 * `rlc build`, errors as messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel.h"

#include <llvm-c/BitWriter.h>
#include <llvm-c/IRReader.h>

static const Span NOSPAN = {0};
static IrDim C(int64_t c) { return ir_dim_const(c); }
#define SHAPE(...) ir_shape(sizeof((IrDim[]){__VA_ARGS__}) / sizeof(IrDim), (IrDim[]){__VA_ARGS__})

/* y = sqrt(x*x + c), read by two reductions, so stored by its own loop kernel. */
static IrGraph *graph_with(Arena *a, const char *name, double c) {
    IrGraph *g = ir_graph_new(a, name);
    IrInput in = {.dataset = "d", .field = "x", .shape = SHAPE(ir_dim_batch(), C(1024)), .dtype = IR_F32};
    int x = ir_add_input(g, in);
    int one = ir_const(g, c, (IrShape){0}, IR_F32, NOSPAN);
    int y = ir_unary(g, IR_SQRT, ir_binary(g, IR_ADD, ir_binary(g, IR_MUL, x, x, NOSPAN), one, NOSPAN), NOSPAN);
    ir_add_report(g, "sum", ir_reshape(g, ir_reduce(g, IR_SUM, y, 3, NOSPAN), (IrShape){0}, NOSPAN), NOSPAN);
    ir_add_report(g, "max", ir_reshape(g, ir_reduce(g, IR_RMAX, y, 3, NOSPAN), (IrShape){0}, NOSPAN), NOSPAN);
    return g;
}

static IrGraph *elementwise_graph(Arena *a, const char *name) { return graph_with(a, name, 1.0); }

static LLVMModuleRef emit(Arena *a, IrGraph *g, LLVMContextRef ctx, const char *step, KernelPlan **plan) {
    StrBuf why = {0};
    *plan = fuse_plan(a, g, &why);
    assert_non_null(*plan);
    LLVMModuleRef m = cg_emit(*plan, ctx, step, &why);
    if (!m) fprintf(stderr, "%s\n", why.data);
    assert_non_null(m);
    sb_free(&why);
    return m;
}

/* The elementwise loop uses vector registers (ymm or zmm, by the host CPU). */
static void test_elementwise_vectorizes(void **state) {
    (void)state;
    Arena a = {0};
    StrBuf why = {0}, asm_text = {0};
    Jit *j = jit_new(&why);
    assert_non_null(j);
    KernelPlan *p;
    LLVMModuleRef m = emit(&a, elementwise_graph(&a, "ew"), jit_context(j), "rlc_step", &p);
    assert_int_equal(p->kernels.items[0].kind, K_LOOP);
    assert_true(p->kernels.items[0].flat);
    assert_true(jit_emit_asm(j, m, &asm_text, &why));
    const char *sq = strstr(asm_text.data, "vsqrtps");
    assert_non_null(sq);
    const char *eol = strchr(sq, '\n');
    char line[128] = {0};
    memcpy(line, sq, eol && eol - sq < 127 ? (size_t)(eol - sq) : 127);
    printf("  %s\n", line);
    assert_true(strstr(line, "ymm") || strstr(line, "zmm"));
    /* The sum's register accumulation is reassociated, so it vectorizes too. */
    bool vector_add = false;
    for (const char *s = asm_text.data; (s = strstr(s, "vaddps")) != NULL; s++) {
        const char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if ((memmem(s, n, "ymm", 3) || memmem(s, n, "zmm", 3))) vector_add = true;
    }
    assert_true(vector_add);

    /* And the module still runs after the assembly was taken from a copy. */
    RlcStepFn fn = jit_compile(j, m, "rlc_step", &why);
    assert_non_null(fn);
    float x[3 * 1024], rep[2];
    for (int i = 0; i < 3 * 1024; i++) x[i] = (float)(i % 7) - 3.0f;
    void *inputs[] = {x};
    void *ws = malloc(kernel_plan_workspace(p, 3));
    rt_step_ctx ctx = {.B = 3, .inputs = inputs, .reports = rep, .workspace = ws};
    fn(&ctx);
    double want = 0;
    for (int i = 0; i < 3 * 1024; i++) want += sqrt((double)x[i] * x[i] + 1);
    assert_float_equal(rep[0], want, want * 1e-6);
    assert_float_equal(rep[1], sqrtf(10.0f), 1e-6);
    free(ws);
    jit_free(j);
    sb_free(&asm_text);
    sb_free(&why);
    arena_free(&a);
}

/* Two stages in one JIT, each with its own step name. */
static void test_two_modules_one_jit(void **state) {
    (void)state;
    Arena a = {0};
    StrBuf why = {0};
    Jit *j = jit_new(&why);
    KernelPlan *p1, *p2;
    LLVMModuleRef m1 = emit(&a, elementwise_graph(&a, "s1"), jit_context(j), "rlc_step_s1", &p1);
    LLVMModuleRef m2 = emit(&a, elementwise_graph(&a, "s2"), jit_context(j), "rlc_step_s2", &p2);
    RlcStepFn f1 = jit_compile(j, m1, "rlc_step_s1", &why);
    RlcStepFn f2 = jit_compile(j, m2, "rlc_step_s2", &why);
    assert_non_null(f1);
    assert_non_null(f2);
    assert_ptr_not_equal(f1, f2);
    jit_free(j);
    sb_free(&why);
    arena_free(&a);
}

/* The kernels of m (functions named `<kind>_<32 hex digits>`): defined and declared. */
static void count_kernels(LLVMModuleRef m, int *defined, int *declared) {
    *defined = *declared = 0;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        size_t n;
        const char *us = strrchr(LLVMGetValueName2(f, &n), '_');
        if (!us || strlen(us + 1) != 32) continue;
        if (LLVMIsDeclaration(f)) (*declared)++;
        else (*defined)++;
    }
}

/* Runs fn at B = 3 on a fixed input; the two reports. */
static void run_reports(RlcStepFn fn, const KernelPlan *p, float rep[2]) {
    float x[3 * 1024];
    for (int i = 0; i < 3 * 1024; i++) x[i] = (float)(i % 11) * 0.37f - 1.5f;
    void *inputs[] = {x};
    void *ws = malloc(kernel_plan_workspace(p, 3));
    rt_step_ctx ctx = {.B = 3, .inputs = inputs, .reports = rep, .workspace = ws};
    fn(&ctx);
    free(ws);
}

/* Each of the n programs graph_with(constants[i]) compiled alone, in a JIT of its
 * own: its reports must equal those of fns[i] (plans[i]) bit for bit; the reports
 * of fns go to reps when it is not NULL. */
static void assert_same_as_alone(Arena *a, int n, const double *constants, RlcStepFn *fns, KernelPlan **plans,
                                 float (*reps)[2]) {
    StrBuf why = {0};
    Jit *alone = jit_new(&why);
    assert_non_null(alone);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "alone_%d", i);
        KernelPlan *p;
        LLVMModuleRef m = emit(a, graph_with(a, name, constants[i]), jit_context(alone), name, &p);
        RlcStepFn fn = jit_compile(alone, m, name, &why);
        assert_non_null(fn);
        float got[2], want[2];
        run_reports(fns[i], plans[i], got);
        run_reports(fn, p, want);
        assert_memory_equal(got, want, sizeof got);
        if (reps) memcpy(reps[i], got, sizeof got);
    }
    jit_free(alone);
    sb_free(&why);
}

/* cg_emit_shared: a kernel whose code an earlier module (or kernel) has is declared,
 * not defined again; the modules compiled together run as the unshared ones do, bit
 * for bit. Stages 1 and 2 are the same graph (every kernel of 2 is 1's); stage 3
 * differs in the constant of its elementwise loop only (its reductions are 1's). */
static void test_kernels_shared_between_modules(void **state) {
    (void)state;
    Arena a = {0};
    StrBuf why = {0};
    Jit *j = jit_new(&why);
    assert_non_null(j);
    const double constants[3] = {1.0, 1.0, 2.0};
    KernelNames defined = {.arena = &a};
    LLVMContextRef contexts[3];
    LLVMModuleRef modules[3];
    KernelPlan *plans[3];
    int defs[3], decls[3];
    const char *names[3] = {"rlc_step_0", "rlc_step_1", "rlc_step_2"};
    for (int i = 0; i < 3; i++) {
        plans[i] = fuse_plan(&a, graph_with(&a, names[i], constants[i]), &why);
        assert_non_null(plans[i]);
        contexts[i] = LLVMContextCreate();
        modules[i] = cg_emit_shared(plans[i], contexts[i], names[i], &defined, &why);
        assert_non_null(modules[i]);
        count_kernels(modules[i], &defs[i], &decls[i]);
    }
    int kernels = plans[0]->kernels.len;
    assert_true(kernels >= 3);
    assert_int_equal(defs[0], kernels);
    assert_int_equal(decls[0], 0);
    assert_int_equal(defs[1], 0);
    assert_int_equal(decls[1], kernels);
    assert_int_equal(defs[2], 1);
    assert_int_equal(decls[2], kernels - 1);
    assert_int_equal(defined.names.len, kernels + 1);
    RlcStepFn fns[3];
    bool ok = jit_compile_many(j, 3, modules, names, fns, &why);
    if (!ok) fail_msg("%s", why.data);
    for (int i = 0; i < 3; i++) LLVMContextDispose(contexts[i]);

    /* the same programs, each stage's module on its own */
    float shared_rep[3][2];
    assert_same_as_alone(&a, 3, constants, fns, plans, shared_rep);
    assert_memory_equal(shared_rep[0], shared_rep[1], sizeof shared_rep[0]);
    assert_true(shared_rep[2][0] != shared_rep[0][0]);
    jit_free(j);
    sb_free(&why);
    arena_free(&a);
}

/* A batch takes each module as it is emitted, its workers compiling (in parts) the
 * earlier ones meanwhile: the steps equal those compiled alone, bit for bit. A
 * module that does not verify, added after one the workers already have, fails
 * the batch with the verifier's message, and the modules after it are still
 * taken (ASan: nothing leaks, no worker is left running). */
static void test_batch_compiles_while_emitting(void **state) {
    (void)state;
    Arena a = {0};
    StrBuf why = {0};
    Jit *j = jit_new(&why);
    assert_non_null(j);
    jit_set_parallelism(j, 2, 1); /* every module in parts, on two workers */
    const double constants[3] = {1.0, 3.0, 2.0};
    const char *names[3] = {"rlc_step_0", "rlc_step_1", "rlc_step_2"};
    KernelNames defined = {.arena = &a};
    LLVMContextRef contexts[3];
    KernelPlan *plans[3];
    JitBatch *batch = jit_batch_start(j, 3, names, NULL);
    assert_non_null(batch);
    for (int i = 0; i < 3; i++) {
        plans[i] = fuse_plan(&a, graph_with(&a, names[i], constants[i]), &why);
        assert_non_null(plans[i]);
        contexts[i] = LLVMContextCreate();
        LLVMModuleRef m = cg_emit_shared(plans[i], contexts[i], names[i], &defined, &why);
        assert_non_null(m);
        assert_true(jit_batch_add(batch, m, &why));
    }
    RlcStepFn fns[3];
    if (!jit_batch_finish(batch, fns, &why)) fail_msg("%s", why.data);
    for (int i = 0; i < 3; i++) LLVMContextDispose(contexts[i]);
    assert_same_as_alone(&a, 3, constants, fns, plans, NULL);

    /* module 1 returns nothing from a function that returns an i32 */
    KernelNames fresh = {.arena = &a};
    batch = jit_batch_start(j, 3, names, NULL);
    assert_non_null(batch);
    for (int i = 0; i < 3; i++) {
        contexts[i] = LLVMContextCreate();
        KernelPlan *p = fuse_plan(&a, graph_with(&a, names[i], constants[i]), &why);
        LLVMModuleRef m = cg_emit_shared(p, contexts[i], names[i], &fresh, &why);
        assert_non_null(m);
        if (i == 1) {
            LLVMTypeRef i32 = LLVMInt32TypeInContext(contexts[i]);
            LLVMValueRef f = LLVMAddFunction(m, "broken", LLVMFunctionType(i32, NULL, 0, false));
            LLVMBuilderRef bld = LLVMCreateBuilderInContext(contexts[i]);
            LLVMPositionBuilderAtEnd(bld, LLVMAppendBasicBlockInContext(contexts[i], f, "entry"));
            LLVMBuildRetVoid(bld);
            LLVMDisposeBuilder(bld);
        }
        assert_true(jit_batch_add(batch, m, &why) == (i == 0));
    }
    assert_false(jit_batch_finish(batch, fns, &why));
    assert_non_null(strstr(why.data, "generated code does not verify"));
    for (int i = 0; i < 3; i++) assert_null(fns[i]);
    for (int i = 0; i < 3; i++) LLVMContextDispose(contexts[i]);
    jit_free(j);
    sb_free(&why);
    arena_free(&a);
}

/* The object cache's key of a module whose kernels are named by their code's hash
 * (hashed by name, not text): the same for the same code, another when a kernel's
 * code or the pipeline differs. */
static void test_cache_key_covers_shared_kernels(void **state) {
    (void)state;
    Arena a = {0};
    StrBuf why = {0};
    LLVMTargetMachineRef tm = cg_target_machine(NULL, NULL, false, &why);
    assert_non_null(tm);
    const double constants[3] = {1.0, 1.0, 2.0};
    ObjCacheKey keys[3];
    for (int i = 0; i < 3; i++) {
        KernelNames defined = {.arena = &a};
        LLVMContextRef ctx = LLVMContextCreate();
        KernelPlan *p = fuse_plan(&a, graph_with(&a, "keyed", constants[i]), &why);
        assert_non_null(p);
        LLVMModuleRef m = cg_emit_shared(p, ctx, "rlc_step", &defined, &why);
        assert_non_null(m);
        keys[i] = objcache_key(m, tm, cg_pipeline());
        if (i == 0) {
            ObjCacheKey other = objcache_key(m, tm, "function(sroa)");
            assert_string_not_equal(other.hex, keys[0].hex);
            /* the batch hashes the bitcode it also splits: the same key */
            LLVMMemoryBufferRef bitcode = LLVMWriteBitcodeToMemoryBuffer(m);
            assert_string_equal(objcache_key_of_bitcode(bitcode, tm, cg_pipeline()).hex, keys[0].hex);
            LLVMDisposeMemoryBuffer(bitcode);
        }
        LLVMDisposeModule(m);
        LLVMContextDispose(ctx);
    }
    assert_string_equal(keys[0].hex, keys[1].hex);
    assert_string_not_equal(keys[0].hex, keys[2].hex);
    LLVMDisposeTargetMachine(tm);
    sb_free(&why);
    arena_free(&a);
}

/* The payload of the only object cache entry in dir (after its header). */
static size_t read_only_entry(const char *dir, unsigned char *buf, size_t cap) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cat %s/*.o", dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    pclose(f);
    enum { HEADER = 48 };
    assert_true(n > HEADER);
    memmove(buf, buf + HEADER, n - HEADER);
    return n - HEADER;
}

/* A module split in parts (jit_set_parallelism with a small minimum) runs as the
 * whole module does, bit for bit; its parts are one cache entry, which a second
 * JIT takes by the module's key and by its source key and runs the same. */
static void test_module_compiled_in_parts(void **state) {
    (void)state;
    Arena a = {0};
    StrBuf why = {0};
    char dir[] = "/tmp/rlc_test_partsXXXXXX";
    assert_non_null(mkdtemp(dir));
    float rep[3][2];
    const char *name = "rlc_step_0";
    KernelPlan *plan = NULL;
    ObjCacheKey source;
    bool have_source = false;
    for (int run = 0; run < 3; run++) {
        Jit *j = jit_new(&why);
        assert_non_null(j);
        /* run 0 whole; run 1 in parts, stored; run 2 from the cache */
        jit_set_parallelism(j, 2, run == 0 ? 1L << 40 : 1);
        if (run > 0) assert_true(jit_use_cache(j, dir));
        if (run == 1)
            have_source = objcache_source_key("inputs", name, jit_target_machine(j), cg_pipeline(), &source);
        KernelNames defined = {.arena = &a};
        LLVMContextRef ctx = LLVMContextCreate();
        plan = fuse_plan(&a, graph_with(&a, name, 1.5), &why);
        assert_non_null(plan);
        assert_true(plan->kernels.len >= 3);
        LLVMModuleRef m = cg_emit_shared(plan, ctx, name, &defined, &why);
        assert_non_null(m);
        RlcStepFn fn = NULL;
        bool ok = jit_compile_many_keyed(j, 1, &m, &name, have_source ? &source : NULL, &fn, &why);
        if (!ok) fail_msg("%s", why.data);
        run_reports(fn, plan, rep[run]);
        int hits, misses;
        jit_cache_counts(j, &hits, &misses);
        assert_int_equal(hits, run == 2);
        LLVMContextDispose(ctx);
        jit_free(j);
        if (run == 1) {
            unsigned char entry[1 << 16];
            size_t n = read_only_entry(dir, entry, sizeof entry);
            assert_true(n > 16);
            assert_memory_equal(entry, "RLCPART\n", 8);
            assert_true(entry[8] >= 2); /* the parts, little-endian */
        }
    }
    assert_memory_equal(rep[0], rep[1], sizeof rep[0]);
    assert_memory_equal(rep[0], rep[2], sizeof rep[0]);
    if (have_source) {
        Jit *j = jit_new(&why);
        assert_true(jit_use_cache(j, dir));
        RlcStepFn fn = NULL;
        assert_true(jit_load_cached(j, 1, &source, &name, &fn, &why));
        float again[2];
        run_reports(fn, plan, again);
        assert_memory_equal(rep[0], again, sizeof again);
        jit_free(j);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    sb_free(&why);
    arena_free(&a);
}

/* The glue (every function but the kernels) is compiled at level None only when it
 * computes nothing with floats: moving a float keeps its bits, arithmetic, a
 * conversion or llvm.fmuladd (fused or not by the level) does not count as glue. */
static void test_glue_that_computes_floats(void **state) {
    (void)state;
    const char *bodies[] = {
        "%v = load float, ptr %p\n  store float %v, ptr %p\n",
        "%v = load float, ptr %p\n  %w = fadd float %v, 1.0\n  store float %w, ptr %p\n",
        "%v = load float, ptr %p\n  %w = call float @llvm.fmuladd.f32(float %v, float %v, float %v)\n"
        "  store float %w, ptr %p\n",
        "%v = load i64, ptr %p\n  %w = sitofp i64 %v to double\n  store double %w, ptr %p\n",
    };
    const bool computes[] = {false, true, true, true};
    for (int i = 0; i < 4; i++) {
        char ir[1024];
        /* a kernel computing floats does not make the glue compute them */
        snprintf(ir, sizeof ir,
                 "declare float @llvm.fmuladd.f32(float, float, float)\n"
                 "define void @loop_0123456789abcdef0123456789abcdef(ptr %%p) {\n"
                 "  %%v = load float, ptr %%p\n  %%w = fmul float %%v, %%v\n  store float %%w, ptr %%p\n"
                 "  ret void\n}\n"
                 "define void @rlc_step(ptr %%p) {\n  %s  ret void\n}\n",
                 bodies[i]);
        LLVMContextRef ctx = LLVMContextCreate();
        LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(ir, strlen(ir), "glue");
        LLVMModuleRef m = NULL;
        char *msg = NULL;
        if (LLVMParseIRInContext(ctx, buf, &m, &msg)) fail_msg("%s", msg);
        assert_int_equal(jit_glue_computes_floats(m), computes[i]);
        LLVMDisposeModule(m);
        LLVMContextDispose(ctx);
    }
}

/* A portable PIC object for `rlc build`. */
static void test_object_file(void **state) {
    (void)state;
    Arena a = {0};
    StrBuf why = {0};
    LLVMContextRef ctx = LLVMContextCreate();
    KernelPlan *p;
    LLVMModuleRef m = emit(&a, elementwise_graph(&a, "obj"), ctx, "rlc_step", &p);
    char path[] = "/tmp/rlc_test_objXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    bool ok = cg_emit_object(m, path, "x86-64-v3", "", &why);
    if (!ok) fprintf(stderr, "%s\n", why.data);
    assert_true(ok);
    FILE *f = fopen(path, "rb");
    unsigned char magic[4] = {0};
    assert_int_equal(fread(magic, 1, 4, f), 4);
    fclose(f);
    assert_memory_equal(magic, "\x7f" "ELF", 4);
    remove(path);
    LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
    sb_free(&why);
    arena_free(&a);
}

/* An unresolved symbol fails the lookup with its name in the message. */
static void test_missing_symbol_is_an_error(void **state) {
    (void)state;
    StrBuf why = {0};
    Jit *j = jit_new(&why);
    LLVMContextRef C = jit_context(j);
    LLVMModuleRef m = LLVMModuleCreateWithNameInContext("bad", C);
    LLVMTypeRef voidt = LLVMVoidTypeInContext(C), ptr = LLVMPointerTypeInContext(C, 0);
    LLVMTypeRef ft = LLVMFunctionType(voidt, &ptr, 1, 0);
    LLVMValueRef missing = LLVMAddFunction(m, "rlc_no_such_symbol", LLVMFunctionType(voidt, NULL, 0, 0));
    LLVMValueRef step = LLVMAddFunction(m, "rlc_step", ft);
    LLVMBuilderRef b = LLVMCreateBuilderInContext(C);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(C, step, "entry"));
    LLVMBuildCall2(b, LLVMGlobalGetValueType(missing), missing, NULL, 0, "");
    LLVMBuildRetVoid(b);
    LLVMDisposeBuilder(b);
    assert_null(jit_compile(j, m, "rlc_step", &why));
    printf("  %s\n", why.data);
    assert_non_null(strstr(why.data, "rlc_no_such_symbol"));
    jit_free(j);
    sb_free(&why);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elementwise_vectorizes),
        cmocka_unit_test(test_two_modules_one_jit),
        cmocka_unit_test(test_kernels_shared_between_modules),
        cmocka_unit_test(test_batch_compiles_while_emitting),
        cmocka_unit_test(test_cache_key_covers_shared_kernels),
        cmocka_unit_test(test_module_compiled_in_parts),
        cmocka_unit_test(test_glue_that_computes_floats),
        cmocka_unit_test(test_object_file),
        cmocka_unit_test(test_missing_symbol_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
