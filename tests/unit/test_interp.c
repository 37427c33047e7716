/* test_interp.c — the reference interpreter (values, a whole step with the
 * runtime's optimizers, the non-finite hook) and simplify_graph, checked by
 * running graphs before and after. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "interp.h"

static const Span NOSPAN = {0};
static IrDim C(int64_t c) { return ir_dim_const(c); }
#define SHAPE(...) ir_shape(sizeof((IrDim[]){__VA_ARGS__}) / sizeof(IrDim), (IrDim[]){__VA_ARGS__})

static int param(IrGraph *g, const char *name, IrShape s) {
    IrParam p = {.name = name, .component = "t", .shape = s, .trained = true};
    return ir_add_param(g, p);
}
static int input(IrGraph *g, IrShape s, IrDType dt) {
    IrInput in = {.dataset = "d", .field = "x", .shape = s, .dtype = dt};
    return ir_add_input(g, in);
}
static int scalar(IrGraph *g, double v) { return ir_const(g, v, (IrShape){0}, IR_F32, NOSPAN); }

static void test_values(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, SHAPE(ir_dim_batch(), C(3)), IR_F32);
    int w = param(g, "w", SHAPE(C(2), C(3)));
    int y = ir_matmul(g, x, w, false, true, NOSPAN);           /* [B, 2] */
    int am = ir_reduce(g, IR_ARGMAX, y, 2, NOSPAN);             /* [B, 1] */
    int t = ir_transpose(g, y, (int[]){1, 0}, NOSPAN);
    int p = ir_pad(g, t, 1, 1, 0, NOSPAN);                      /* [2, B+1] */
    float xv[6] = {1, 2, 3, 4, 5, 6}, wv[6] = {1, 0, 0, 0, 1, 1};
    float *params[] = {wv};
    void *inputs[] = {xv};
    InterpRun r = {.g = g, .B = 2, .f32 = true, .params_f32 = params, .inputs = inputs};
    assert_true(interp_run(&r));
    const double want_y[4] = {1, 5, 4, 11}, want_p[6] = {0, 1, 4, 0, 5, 11};
    for (int i = 0; i < 4; i++) assert_float_equal(r.v[y][i], want_y[i], 0);
    for (int i = 0; i < 6; i++) assert_float_equal(r.v[p][i], want_p[i], 0);
    assert_float_equal(r.v[am][0], 1, 0);
    assert_float_equal(r.v[am][1], 1, 0);
    assert_int_equal(r.first_nonfinite, -1);
    interp_run_free(&r);
    arena_free(&a);
}

/* Random ops draw through the runtime, so the interpreter and compiled code
 * see the same numbers. */
static void test_random_matches_runtime(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int d = ir_random(g, IR_NORMAL, SHAPE(ir_dim_batch(), C(5)), 0.5, 2.0, 3, NOSPAN);
    InterpRun r = {.g = g, .B = 4, .seed = 11, .step = 7, .f32 = true};
    assert_true(interp_run(&r));
    float want[20];
    rt_random_fill(RT_RAND_NORMAL, want, 0, 20, 0.5, 2.0, 11, 3, 7);
    for (int i = 0; i < 20; i++) assert_float_equal(r.v[d][i], want[i], 0);
    interp_run_free(&r);
    arena_free(&a);
}

/* loss = mean over the batch of sum(x * w): dL/dw = mean of x. */
static IrGraph *linear_graph(Arena *a, IrOptKind opt) {
    IrGraph *g = ir_graph_new(a, "t");
    int x = input(g, SHAPE(ir_dim_batch(), C(3)), IR_F32);
    int w = param(g, "w", SHAPE(C(3)));
    int s = ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, x, w, NOSPAN), 3, NOSPAN);
    int n = ir_dimval(g, ir_dim_batch(), IR_F32, NOSPAN);
    g->loss = ir_binary(g, IR_DIV, s, n, NOSPAN);
    ir_add_report(g, "loss", g->loss, NOSPAN);
    g->optim = (IrOptim){.kind = opt, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    ad_differentiate(g);
    return g;
}

static void test_step_sgd_and_adam(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        Arena a = {0};
        IrGraph *g = linear_graph(&a, k ? OPT_ADAM : OPT_SGD);
        float xv[6] = {1, 2, 3, 3, -4, 5}, wv[3] = {1, 1, 1}, st[6] = {0}, loss = 0, rep = 0;
        float *params[] = {wv}, *opt[] = {st};
        void *inputs[] = {xv};
        rt_step_ctx ctx = {.B = 2, .lr = 0.1f, .params = params, .opt_state = opt,
                           .inputs = inputs, .loss = &loss, .reports = &rep};
        assert_true(interp_step(g, &ctx));
        assert_float_equal(loss, (6 + 4) / 2.0, 1e-6);
        assert_float_equal(rep, loss, 0);
        const float grad[3] = {2, -1, 4};
        for (int i = 0; i < 3; i++) {
            /* SGD: w - lr g; Adam's first step: w - lr g / (|g| + eps) */
            float want = k ? 1 - 0.1f * (grad[i] > 0 ? 1 : -1) : 1 - 0.1f * grad[i];
            assert_float_equal(wv[i], want, 1e-5);
        }
        arena_free(&a);
    }
}

/* An embedding gradient is a sparse row update: with Adam, rows the batch did
 * not read keep their values (and their m and v). */
static void test_embedding_rows_update(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int table = param(g, "emb", SHAPE(C(4), C(2)));
    int idx = input(g, SHAPE(ir_dim_batch()), IR_I32);
    g->loss = ir_reduce(g, IR_SUM, ir_gather(g, table, idx, NOSPAN), 3, NOSPAN);
    g->optim = (IrOptim){.kind = OPT_ADAM, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    ad_differentiate(g);
    float tv[8] = {0, 1, 2, 3, 4, 5, 6, 7}, st[16] = {0}, loss;
    int32_t ids[2] = {1, 1};
    float *params[] = {tv}, *opt[] = {st};
    void *inputs[] = {ids};
    rt_step_ctx ctx = {.B = 2, .lr = 0.1f, .params = params, .opt_state = opt, .inputs = inputs,
                       .loss = &loss};
    assert_true(interp_step(g, &ctx));
    const float want[8] = {0, 1, 2 - 0.1f, 3 - 0.1f, 4, 5, 6, 7};
    for (int i = 0; i < 8; i++) assert_float_equal(tv[i], want[i], 1e-6);
    for (int i = 0; i < 16; i++)
        if (i != 2 && i != 3 && i != 10 && i != 11) assert_float_equal(st[i], 0, 0);
    arena_free(&a);
}

static void test_first_nonfinite(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, SHAPE(ir_dim_batch(), C(2)), IR_F32);
    int shifted = ir_binary(g, IR_SUB, x, scalar(g, 2), NOSPAN);
    int bad = ir_unary(g, IR_LOG, shifted, NOSPAN);
    g->loss = ir_reduce(g, IR_SUM, ir_unary(g, IR_EXP, bad, NOSPAN), 3, NOSPAN);
    float xv[2] = {0.5f, 3};
    void *inputs[] = {xv};
    rt_step_ctx ctx = {.B = 1, .inputs = inputs};
    assert_int_equal(interp_first_nonfinite(g, &ctx), bad);
    xv[0] = 4;
    assert_int_equal(interp_first_nonfinite(g, &ctx), -1);
    arena_free(&a);
}

/* A graph full of what simplify removes: x*1, x+0, x-0, x/1, neg neg,
 * transpose of transpose, reshape of reshape, repeated subexpressions,
 * constant arithmetic, stop_gradient. */
static IrGraph *redundant_graph(Arena *a) {
    IrGraph *g = ir_graph_new(a, "t");
    int x = input(g, SHAPE(ir_dim_batch(), C(4)), IR_F32);
    int w = param(g, "w", SHAPE(C(4), C(3)));
    int v = param(g, "v", SHAPE(C(3)));
    int h1 = ir_matmul(g, x, w, false, false, NOSPAN);
    int h2 = ir_matmul(g, x, w, false, false, NOSPAN);
    int two = ir_binary(g, IR_ADD, scalar(g, 1), scalar(g, 1), NOSPAN);
    int h = ir_binary(g, IR_MUL, ir_unary(g, IR_TANH, h1, NOSPAN), two, NOSPAN);
    h = ir_binary(g, IR_ADD, h, ir_unary(g, IR_TANH, h2, NOSPAN), NOSPAN);
    h = ir_binary(g, IR_MUL, h, scalar(g, 1), NOSPAN);
    h = ir_binary(g, IR_SUB, ir_binary(g, IR_ADD, h, scalar(g, 0), NOSPAN), scalar(g, 0), NOSPAN);
    h = ir_unary(g, IR_NEG, ir_unary(g, IR_NEG, ir_binary(g, IR_DIV, h, scalar(g, 1), NOSPAN), NOSPAN), NOSPAN);
    int t = ir_transpose(g, ir_transpose(g, h, (int[]){1, 0}, NOSPAN), (int[]){1, 0}, NOSPAN);
    int r = ir_reshape(g, ir_reshape(g, t, SHAPE(ir_dim_batch(), C(3), C(1)), NOSPAN),
                       SHAPE(ir_dim_batch(), C(3)), NOSPAN);
    int sg = ir_binary(g, IR_MUL, r, ir_unary(g, IR_STOP_GRAD, v, NOSPAN), NOSPAN);
    int z = ir_binary(g, IR_MUL, sg, v, NOSPAN);
    g->loss = ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, z, z, NOSPAN), 3, NOSPAN);
    ir_add_report(g, "mx", ir_reduce(g, IR_RMAX, r, 3, NOSPAN), NOSPAN);
    int unused = ir_unary(g, IR_EXP, x, NOSPAN);
    (void)unused;
    g->optim = (IrOptim){.kind = OPT_SGD, .lr = 0.01};
    ad_differentiate(g);
    return g;
}

static void run_step(const IrGraph *g, float *w, float *v, float *loss, float *rep) {
    float xv[8] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f};
    float *params[] = {w, v};
    void *inputs[] = {xv};
    rt_step_ctx ctx = {.B = 2, .lr = 0.01f, .params = params, .inputs = inputs, .loss = loss,
                       .reports = rep};
    assert_true(interp_step(g, &ctx));
}

static void test_simplify_keeps_results(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = redundant_graph(&a);
    assert_true(ir_verify(g, NULL));
    IrGraph *s = simplify_graph(g);
    StrBuf why = {0};
    if (!ir_verify(s, &why)) fail_msg("%s", why.data);
    assert_true(s->nodes.len < g->nodes.len - 10);
    int matmuls = 0, stops = 0, exps = 0;
    for (int i = 0; i < s->n_forward; i++) {
        matmuls += s->nodes.items[i].op == IR_MATMUL;
        stops += s->nodes.items[i].op == IR_STOP_GRAD;
        exps += s->nodes.items[i].op == IR_EXP;
    }
    int stops_before = 0;
    for (int i = 0; i < g->n_forward; i++) stops_before += g->nodes.items[i].op == IR_STOP_GRAD;
    assert_int_equal(matmuls, 1);
    /* stop_gradient stays past autodiff (gradcheck holds its value fixed) */
    assert_true(stops_before > 0);
    assert_int_equal(stops, stops_before);
    assert_int_equal(exps, 0);
    assert_true(s->n_forward > 0 && s->n_forward < s->nodes.len);

    float w0[12], v0[3] = {0.5f, -1, 2}, w1[12], v1[3] = {0.5f, -1, 2};
    for (int i = 0; i < 12; i++) w0[i] = w1[i] = 0.1f * (float)(i - 5);
    float l0, l1, r0, r1;
    run_step(g, w0, v0, &l0, &r0);
    run_step(s, w1, v1, &l1, &r1);
    assert_float_equal(l0, l1, 1e-6 * fabsf(l0));
    assert_float_equal(r0, r1, 1e-6 * fabsf(r0));
    for (int i = 0; i < 12; i++) assert_float_equal(w0[i], w1[i], 1e-6);
    for (int i = 0; i < 3; i++) assert_float_equal(v0[i], v1[i], 1e-6);
    /* the gradient of v did not flow through stop_gradient */
    assert_true(v0[0] != 0.5f);

    /* a second pass changes nothing more */
    IrGraph *s2 = simplify_graph(s);
    assert_int_equal(s2->nodes.len, s->nodes.len);
    sb_free(&why);
    arena_free(&a);
}

/* Before autodiff, stop_gradient stays so the backward pass still sees it. */
static void test_simplify_keeps_stop_gradient_before_autodiff(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int v = param(g, "v", SHAPE(C(3)));
    int w = param(g, "w", SHAPE(C(3)));
    int m = ir_binary(g, IR_MUL, ir_unary(g, IR_STOP_GRAD, v, NOSPAN), w, NOSPAN);
    g->loss = ir_reduce(g, IR_SUM, m, 1, NOSPAN);
    IrGraph *s = simplify_graph(g);
    ad_differentiate(s);
    assert_int_equal(s->params.items[0].grad, -1);
    assert_true(s->params.items[1].grad >= 0);
    arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_random_matches_runtime),
        cmocka_unit_test(test_step_sgd_and_adam),
        cmocka_unit_test(test_embedding_rows_update),
        cmocka_unit_test(test_first_nonfinite),
        cmocka_unit_test(test_simplify_keeps_results),
        cmocka_unit_test(test_simplify_keeps_stop_gradient_before_autodiff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
