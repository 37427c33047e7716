/* test_examples_agree.c — every stage of every example (examples/NAME.rl), and of
 * every program in tests/agree/ (small programs for one construct each), through
 * the JIT and through the reference interpreter on the same inputs.
 *
 * Each example is lowered without its data (dataset properties such as
 * `brown.vocab` become SMALL_DIMS) and compiled once by be_compile. Per stage,
 * parameters start from rt_init_param (seed 7) and optimizer state from zeros;
 * inputs are synthesized: f32 in [0, 1), i32 below the bound of the gathers and
 * one_hots they feed (ir_index_limits), or below DEFAULT_RANGE where nothing
 * bounds them. Two steps (steps 0 and 1, so Adam's bias correction and state
 * both matter) run through the compiled step function and through interp_step
 * on identical copies, at a full batch and at a smaller partial batch through
 * the same compiled code and workspace. After each step the loss, the reports,
 * every parameter and every optimizer state must agree:
 *
 *     |jit - ref| / max(|ref|, ABS_FLOOR, TENSOR_FLOOR * max|ref over the tensor|)
 *         <= 2e-5,   ABS_FLOOR = 1e-2, TENSOR_FLOOR = 0.1
 *
 * where the loss and each report are their own one-value tensor. So a value is
 * held to 1e-5 of itself unless it is near 0: below 1e-2 (differences under
 * 1e-7 pass) or below a tenth of its tensor's largest value (differences under
 * 1e-6 of that largest pass). The floor is needed because the interpreter
 * accumulates in double and the JIT in float: a value that is the cancellation
 * of larger terms (a bias gradient summed over the batch, a weight moved by a
 * few such steps) carries their rounding, not its own: measured here up to
 * ~1e-4 of itself for such values (biases ~1e-3 after two steps in clip.rl and
 * transfer.rl), ~1e-6 for the rest. The bound is 2e-5: a weight of simclr_cnn.rl's
 * 1,568-wide probe near the floor, whose gradient is a sum over a batch of 3 that
 * cancels, measured 1.37e-5 (an absolute 1.4e-7); a wrong rule gives O(1).
 *
 * Adam is conditioned first: its update lr*g/(|g| + eps) changes by lr*eps/(|g| +
 * eps)^2 per unit of g, lr/eps = 1e5 near g = 0 with the examples' eps = 1e-8,
 * so the float rounding of a gradient that is nearly 0 (~1e-11) would move a
 * parameter by ~1e-6 in any float implementation. With eps raised to lr (in the
 * graph, before compiling, so both sides use it) a gradient difference d moves
 * a parameter by at most d, and what is compared is the computation, not that
 * amplification. The max difference of each stage is printed. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "driver.h"
#include "lower.h"

enum { FULL_B = 8, PARTIAL_B = 3, SMALL_DIMS = 50, DEFAULT_RANGE = 4, STEPS = 2 };
#define TOLERANCE 2e-5
#define ABS_FLOOR 1e-2
#define TENSOR_FLOOR 0.1

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Parameters, optimizer state and outputs of one way of running a stage. */
typedef struct State {
    float **params, **opt;
    float loss, *reports;
} State;

static int64_t param_numel(const rt_param_spec *p) {
    int64_t n = 1;
    for (int d = 0; d < p->rank; d++) n *= p->dims[d];
    return n;
}

/* Optimizer state per trained parameter: SGD keeps momentum, Adam m then v. */
static int64_t opt_numel(const rt_stage *s, int i) {
    if (!s->params[i].trained) return 0;
    return param_numel(&s->params[i]) * (s->opt.kind == RT_OPT_SGD ? 1 : 2);
}

static void state_init(State *st, const rt_stage *s) {
    st->params = calloc((size_t)s->n_params + 1, sizeof(float *));
    st->opt = calloc((size_t)s->n_params + 1, sizeof(float *));
    st->reports = calloc((size_t)s->n_reports + 1, sizeof(float));
    for (int i = 0; i < s->n_params; i++) {
        const rt_param_spec *p = &s->params[i];
        st->params[i] = malloc(sizeof(float) * (size_t)(param_numel(p) + 1));
        rt_init_param(st->params[i], p->dims, p->rank, p->init, p->a, p->b, 7, p->name);
        int64_t on = opt_numel(s, i);
        st->opt[i] = on ? calloc((size_t)on, sizeof(float)) : NULL;
    }
}

static void state_copy(State *dst, const State *src, const rt_stage *s) {
    state_init(dst, s);
    for (int i = 0; i < s->n_params; i++) {
        memcpy(dst->params[i], src->params[i], sizeof(float) * (size_t)param_numel(&s->params[i]));
        if (dst->opt[i]) memcpy(dst->opt[i], src->opt[i], sizeof(float) * (size_t)opt_numel(s, i));
    }
}

static void state_free(State *st, const rt_stage *s) {
    for (int i = 0; i < s->n_params; i++) {
        free(st->params[i]);
        free(st->opt[i]);
    }
    free(st->params);
    free(st->opt);
    free(st->reports);
}

/* One batch of B synthesized inputs for g. */
static void **make_inputs(const IrGraph *g, int64_t B, uint64_t seed) {
    int64_t *lim = ir_index_limits(g);
    assert_non_null(lim);
    void **in = calloc((size_t)g->inputs.len + 1, sizeof(void *));
    for (int i = 0; i < g->inputs.len; i++) {
        const IrInput *gi = &g->inputs.items[i];
        int64_t n = ir_shape_numel(&gi->shape, B);
        in[i] = malloc(4 * (size_t)(n + 1));
        if (gi->dtype == IR_F32) {
            float *f = in[i];
            for (int64_t k = 0; k < n; k++) f[k] = (float)((double)lcg(&seed) / 2147483648.0);
        } else {
            int64_t range = lim[gi->node] == INT64_MAX ? DEFAULT_RANGE : lim[gi->node];
            int32_t *v = in[i];
            for (int64_t k = 0; k < n; k++) v[k] = (int32_t)(lcg(&seed) % (uint64_t)range);
        }
    }
    free(lim);
    return in;
}

static rt_step_ctx ctx_of(State *st, const rt_stage *s, int64_t B, int64_t step, void **inputs,
                          void *ws, rt_pool *pool) {
    return (rt_step_ctx){.B = B, .step = step, .seed = 11, .lr = (float)s->opt.lr,
                         .params = st->params, .opt_state = st->opt, .inputs = inputs,
                         .loss = &st->loss, .reports = st->reports, .workspace = ws, .pool = pool};
}

/* The worst difference over one tensor of n values, with its place in `where`. */
static double compare_tensor(const float *jit, const float *ref, int64_t n, const char *name,
                             double worst, char *where, size_t cap) {
    double largest = 0;
    for (int64_t j = 0; j < n; j++) largest = fmax(largest, fabs(ref[j]));
    double floor = fmax(TENSOR_FLOOR * largest, ABS_FLOOR);
    for (int64_t j = 0; j < n; j++) {
        double d = fabs((double)jit[j] - ref[j]) / fmax(fabs(ref[j]), floor);
        if (d > worst) {
            worst = d;
            snprintf(where, cap, "%s[%lld] %.9g vs %.9g", name, (long long)j, jit[j], ref[j]);
        }
    }
    return worst;
}

/* The worst relative difference of jit against ref, with what it was in `where`. */
static double compare(const State *jit, const State *ref, const IrGraph *g, const rt_stage *s,
                      char *where, size_t cap) {
    double worst = 0;
    if (g->loss >= 0) worst = compare_tensor(&jit->loss, &ref->loss, 1, "loss", worst, where, cap);
    for (int k = 0; k < s->n_reports; k++)
        worst = compare_tensor(&jit->reports[k], &ref->reports[k], 1, s->reports[k], worst, where, cap);
    for (int i = 0; i < s->n_params; i++) {
        const char *name = s->params[i].name;
        worst = compare_tensor(jit->params[i], ref->params[i], param_numel(&s->params[i]), name,
                               worst, where, cap);
        char sname[200];
        snprintf(sname, sizeof sname, "optimizer state of %s", name);
        if (ref->opt[i])
            worst = compare_tensor(jit->opt[i], ref->opt[i], opt_numel(s, i), sname, worst, where, cap);
    }
    return worst;
}

/* Two steps at batch B both ways; the worst difference seen after either. */
static double run_stage(const BackendStage *bs, const rt_stage *s, int64_t B, void *ws,
                        rt_pool *pool) {
    const IrGraph *g = bs->ir->graph;
    void **inputs = make_inputs(g, B, 1234 + (uint64_t)B);
    State ref, jit;
    state_init(&ref, s);
    state_copy(&jit, &ref, s);
    double worst = 0;
    char where[320] = "nothing", at[256];
    for (int64_t step = 0; step < STEPS; step++) {
        rt_step_ctx cr = ctx_of(&ref, s, B, step, inputs, NULL, NULL);
        rt_step_ctx cj = ctx_of(&jit, s, B, step, inputs, ws, pool);
        assert_true(interp_step(g, &cr));
        bs->fn(&cj);
        double d = compare(&jit, &ref, g, s, at, sizeof at);
        if (!(d <= worst)) {
            worst = d;
            snprintf(where, sizeof where, "step %lld: %s", (long long)step, at);
        }
    }
    printf("  %-16s B=%lld  max rel diff %.2e  (%s)\n", s->name, (long long)B, worst, where);
    state_free(&jit, s);
    state_free(&ref, s);
    for (int i = 0; i < g->inputs.len; i++) free(inputs[i]);
    free(inputs);
    return worst;
}

static void check_program(const char *path) {
    const char *file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    printf("%s\n", file);
    Compilation c;
    driver_init(&c);
    bool front = driver_front(&c, path);
    if (!front) diag_print(&c.diags, stderr);
    assert_true(front);
    LowerOptions o = {.small_dims = SMALL_DIMS, .batch = FULL_B};
    IrProgram *ir = lower_program(&c.program, &c.diags, &o);
    if (!ir) diag_print(&c.diags, stderr);
    assert_non_null(ir);
    for (int i = 0; i < ir->stages.len; i++) {
        IrOptim *opt = &ir->stages.items[i].graph->optim;
        if (opt->kind != OPT_SGD && opt->eps < opt->lr) opt->eps = opt->lr;
    }
    Backend be;
    StrBuf why = {0};
    bool compiled = be_compile(&be, &c.arena, ir, false, &why);
    if (!compiled) fprintf(stderr, "%s: %s\n", file, why.data);
    assert_true(compiled);
    sb_free(&why);
    rt_pool *pool = rt_pool_create(2);
    for (int i = 0; i < ir->stages.len; i++) {
        const BackendStage *bs = &be.stages[i];
        const rt_stage *s = &be.prog.stages[i];
        /* Sized once for the full batch: the partial batch runs in the same workspace. */
        size_t bytes = (s->workspace_bytes(s->user, FULL_B) + 63) / 64 * 64;
        void *ws = aligned_alloc(64, bytes ? bytes : 64);
        double worst = run_stage(bs, s, FULL_B, ws, pool);
        worst = fmax(worst, run_stage(bs, s, PARTIAL_B, ws, pool));
        free(ws);
        assert_true(worst <= TOLERANCE);
    }
    rt_pool_destroy(pool);
    be_free(&be);
    driver_free(&c);
}

static void check_example(const char *file) {
    char path[512];
    snprintf(path, sizeof path, "%s/examples/%s", RLC_SOURCE_DIR, file);
    check_program(path);
}

static void test_autoencoder(void **state) { (void)state; check_example("autoencoder.rl"); }
static void test_bert(void **state) { (void)state; check_example("bert.rl"); }
static void test_clip(void **state) { (void)state; check_example("clip.rl"); }
static void test_cnn(void **state) { (void)state; check_example("cnn.rl"); }
static void test_conv_denoising(void **state) { (void)state; check_example("conv_denoising.rl"); }
static void test_denoising(void **state) { (void)state; check_example("denoising.rl"); }
static void test_gpt(void **state) { (void)state; check_example("gpt.rl"); }
static void test_inpainting(void **state) { (void)state; check_example("inpainting.rl"); }
static void test_mlp(void **state) { (void)state; check_example("mlp.rl"); }
static void test_simclr(void **state) { (void)state; check_example("simclr.rl"); }
static void test_simclr_cnn(void **state) { (void)state; check_example("simclr_cnn.rl"); }
static void test_transfer(void **state) { (void)state; check_example("transfer.rl"); }
static void test_word2vec(void **state) { (void)state; check_example("word2vec.rl"); }

/* A new example must be added to the list above: every .rl file in examples/ is covered. */
static void test_every_example_listed(void **state) {
    (void)state;
    static const char *listed[] = {"autoencoder.rl", "bert.rl",    "clip.rl",       "cnn.rl",
                                   "conv_denoising.rl", "denoising.rl", "gpt.rl",   "inpainting.rl", "mlp.rl",
                                   "simclr.rl",      "simclr_cnn.rl", "transfer.rl", "word2vec.rl"};
    char dir[600];
    snprintf(dir, sizeof dir, "%s/examples", RLC_SOURCE_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 3 || strcmp(e->d_name + n - 3, ".rl") != 0) continue;
        bool found = false;
        for (size_t k = 0; k < sizeof listed / sizeof *listed; k++)
            found |= strcmp(listed[k], e->d_name) == 0;
        if (!found) fail_msg("examples/%s is not checked by test_examples_agree.c", e->d_name);
    }
    closedir(d);
}

/* Every program in tests/agree/. */
static void test_agree_programs(void **state) {
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/tests/agree", RLC_SOURCE_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n_programs = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 3 || strcmp(e->d_name + n - 3, ".rl") != 0) continue;
        char path[900];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        check_program(path);
        n_programs++;
    }
    closedir(d);
    assert_true(n_programs > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_example_listed),
        cmocka_unit_test(test_autoencoder),
        cmocka_unit_test(test_bert),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_cnn),
        cmocka_unit_test(test_conv_denoising),
        cmocka_unit_test(test_denoising),
        cmocka_unit_test(test_gpt),
        cmocka_unit_test(test_inpainting),
        cmocka_unit_test(test_mlp),
        cmocka_unit_test(test_simclr),
        cmocka_unit_test(test_simclr_cnn),
        cmocka_unit_test(test_transfer),
        cmocka_unit_test(test_word2vec),
        cmocka_unit_test(test_agree_programs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
