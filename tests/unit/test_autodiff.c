/* test_autodiff.c — a finite-difference gradient check for every
 * differentiable op, and the rules about who gets a gradient. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "interp.h"

static const Span NOSPAN = {0};
static IrDim C(int64_t c) { return ir_dim_const(c); }
static IrDim Bd(void) { return ir_dim_batch(); }
#define SHAPE(...) ir_shape(sizeof((IrDim[]){__VA_ARGS__}) / sizeof(IrDim), (IrDim[]){__VA_ARGS__})

static Arena arena;

static IrGraph *graph(void) {
    arena_free(&arena);
    arena = (Arena){0};
    return ir_graph_new(&arena, "t");
}

static int param(IrGraph *g, const char *name, IrShape s, bool trained) {
    IrParam p = {.name = name, .component = "t", .shape = s, .trained = trained};
    return ir_add_param(g, p);
}
static int P(IrGraph *g, const char *name, IrShape s) { return param(g, name, s, true); }

static int input(IrGraph *g, const char *field, IrShape s, IrDType dt) {
    IrInput in = {.dataset = "d", .field = field, .shape = s, .dtype = dt};
    return ir_add_input(g, in);
}

static int scalar(IrGraph *g, double v) { return ir_const(g, v, (IrShape){0}, IR_F32, NOSPAN); }

/* loss = sum(out * R) with R a random input of out's shape, so that every
 * element of out gets a different weight (a wrong permutation shows). */
static void set_loss(IrGraph *g, int out) {
    IrShape s = g->nodes.items[out].shape;
    int r = input(g, "r", s, IR_F32);
    int prod = ir_binary(g, IR_MUL, out, r, NOSPAN);
    g->loss = ir_reduce(g, IR_SUM, prod, (1u << s.rank) - 1, NOSPAN);
}

static void check_grads(IrGraph *g, int out) {
    set_loss(g, out);
    ad_differentiate(g);
    StrBuf why = {0};
    if (!ir_verify(g, &why)) {
        StrBuf dump = {0};
        ir_print(g, &dump);
        fail_msg("%s\n%s", why.data, dump.data);
    }
    StrBuf rep = {0};
    bool ok = ir_gradcheck(g, 3, 42, 1e-6, &rep);
    if (!ok) fail_msg("%s", rep.data);
    sb_free(&rep);
}

/* A positive value of the given shape: p*p + 0.5. */
static int positive(IrGraph *g, int p) {
    return ir_binary(g, IR_ADD, ir_binary(g, IR_MUL, p, p, NOSPAN), scalar(g, 0.5), NOSPAN);
}

static void test_unary_ops(void **state) {
    (void)state;
    const IrOp ops[] = {IR_NEG, IR_EXP, IR_LOG, IR_SQRT, IR_ABS, IR_TANH, IR_SIGMOID, IR_RELU};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        IrGraph *g = graph();
        int p = P(g, "p", SHAPE(C(4), C(3)));
        int x = ops[i] == IR_LOG || ops[i] == IR_SQRT ? positive(g, p) : p;
        check_grads(g, ir_unary(g, ops[i], x, NOSPAN));
    }
}

static void test_binary_ops(void **state) {
    (void)state;
    const IrOp ops[] = {IR_ADD, IR_SUB, IR_MUL, IR_DIV, IR_POW, IR_MAX, IR_MIN};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        IrGraph *g = graph();
        int p = P(g, "p", SHAPE(C(4), C(3)));
        int q = P(g, "q", SHAPE(C(4), C(3)));
        int x = ops[i] == IR_POW ? positive(g, p) : p;
        int y = ops[i] == IR_DIV ? positive(g, q) : q;
        check_grads(g, ir_binary(g, ops[i], x, y, NOSPAN));
    }
}

static void test_broadcast_both_directions(void **state) {
    (void)state;
    IrGraph *g = graph();
    int col = P(g, "col", SHAPE(C(4), C(1)));
    int row = P(g, "row", SHAPE(C(3)));
    check_grads(g, ir_binary(g, IR_MUL, col, row, NOSPAN));      /* [4,1] * [3] -> [4,3] */
    g = graph();
    int x = input(g, "x", SHAPE(Bd(), C(1), C(3)), IR_F32);
    int w = P(g, "w", SHAPE(C(2), C(3)));
    check_grads(g, ir_binary(g, IR_SUB, x, w, NOSPAN));          /* [B,1,3] - [2,3] -> [B,2,3] */
}

static void test_where(void **state) {
    (void)state;
    IrGraph *g = graph();
    int c = ir_binary(g, IR_GT, input(g, "c", SHAPE(Bd(), C(3)), IR_F32), scalar(g, 0), NOSPAN);
    int x = P(g, "x", SHAPE(C(3)));
    int y = P(g, "y", SHAPE(C(1), C(3)));
    check_grads(g, ir_where(g, c, x, y, NOSPAN));
}

static void test_reductions(void **state) {
    (void)state;
    const IrOp ops[] = {IR_SUM, IR_RMAX, IR_RMIN};
    const uint32_t axes[] = {1, 2, 5, 7};
    for (size_t i = 0; i < 3; i++)
        for (size_t a = 0; a < 4; a++) {
            IrGraph *g = graph();
            int p = P(g, "p", SHAPE(C(3), C(4), C(2)));
            check_grads(g, ir_reduce(g, ops[i], p, axes[a], NOSPAN));
        }
}

static void test_movement(void **state) {
    (void)state;
    IrGraph *g = graph();
    int p = P(g, "p", SHAPE(C(2), C(3), C(4)));
    check_grads(g, ir_reshape(g, p, SHAPE(C(6), C(4)), NOSPAN));
    g = graph();
    p = P(g, "p", SHAPE(C(2), C(3), C(4)));
    check_grads(g, ir_transpose(g, p, (int[]){2, 0, 1}, NOSPAN));
    g = graph();
    p = P(g, "p", SHAPE(C(2), C(5)));
    check_grads(g, ir_slice(g, p, 1, 1, 4, NOSPAN));
    g = graph();
    p = P(g, "p", SHAPE(C(2), C(5)));
    check_grads(g, ir_pad(g, p, 0, 1, 2, NOSPAN));
    g = graph();
    p = P(g, "p", SHAPE(C(2), C(3)));
    int q = P(g, "q", SHAPE(C(2), C(2)));
    check_grads(g, ir_concat(g, p, q, 1, NOSPAN));
}

/* Two views of a batch stacked along the batch axis ([2B, 3]), as SimCLR does:
 * the gradient slices back at B. */
static void test_concat_batch_axis(void **state) {
    (void)state;
    IrGraph *g = graph();
    int x = input(g, "x", SHAPE(Bd(), C(3)), IR_F32);
    int p = P(g, "p", SHAPE(C(3)));
    int q = P(g, "q", SHAPE(C(3)));
    int a = ir_binary(g, IR_MUL, x, p, NOSPAN);
    int b = ir_binary(g, IR_ADD, x, q, NOSPAN);
    check_grads(g, ir_concat(g, a, b, 0, NOSPAN));
}

static void test_matmul_all_transposes(void **state) {
    (void)state;
    for (int batched = 0; batched < 2; batched++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                IrGraph *g = graph();
                IrShape as = ta ? SHAPE(C(3), C(2)) : SHAPE(C(2), C(3));
                IrShape bs = tb ? SHAPE(C(4), C(3)) : SHAPE(C(3), C(4));
                if (batched) {
                    as = ta ? SHAPE(C(2), C(3), C(2)) : SHAPE(C(2), C(2), C(3));
                    bs = tb ? SHAPE(C(2), C(4), C(3)) : SHAPE(C(2), C(3), C(4));
                }
                int a = P(g, "a", as), b = P(g, "b", bs);
                check_grads(g, ir_matmul(g, a, b, ta, tb, NOSPAN));
            }
    IrGraph *g = graph();
    int x = input(g, "x", SHAPE(Bd(), C(5)), IR_F32);
    int w = P(g, "w", SHAPE(C(5), C(3)));
    check_grads(g, ir_unary(g, IR_TANH, ir_matmul(g, x, w, false, false, NOSPAN), NOSPAN));
}

static void test_gather_scatter(void **state) {
    (void)state;
    IrGraph *g = graph();
    int table = P(g, "emb", SHAPE(C(6), C(3)));
    int idx = input(g, "i", SHAPE(Bd(), C(2)), IR_I32);
    check_grads(g, ir_gather(g, table, idx, NOSPAN));
    g = graph();
    idx = input(g, "i", SHAPE(Bd()), IR_I32);
    int rows = ir_binary(g, IR_MUL, input(g, "x", SHAPE(Bd(), C(2)), IR_F32),
                         P(g, "p", SHAPE(C(2))), NOSPAN);
    check_grads(g, ir_scatter_add(g, idx, rows, SHAPE(C(5), C(2)), NOSPAN));
}

/* The embedding gradient is nonzero only in the rows the batch read. */
static void test_gather_touches_only_rows_read(void **state) {
    (void)state;
    IrGraph *g = graph();
    int table = P(g, "emb", SHAPE(C(6), C(2)));
    int idx = input(g, "i", SHAPE(Bd()), IR_I32);
    g->loss = ir_reduce(g, IR_SUM, ir_gather(g, table, idx, NOSPAN), 3, NOSPAN);
    ad_differentiate(g);
    double tab[12], grad[12];
    for (int i = 0; i < 12; i++) tab[i] = i;
    int32_t ids[3] = {4, 1, 4};
    double *params[] = {tab};
    void *inputs[] = {ids};
    double *grads[] = {grad};
    double loss = interp_loss_grad(g, 3, params, inputs, 1, 0, grads);
    assert_float_equal(loss, 8 + 9 + 2 + 3 + 8 + 9, 1e-12);
    const double want[6] = {0, 1, 0, 0, 2, 0};
    for (int r = 0; r < 6; r++)
        for (int k = 0; k < 2; k++) assert_float_equal(grad[r * 2 + k], want[r], 0);
    assert_int_equal(g->nodes.items[g->params.items[0].grad].op, IR_SCATTER_ADD);
}

/* reduce_max splits the gradient equally among tied maxima; binary max
 * gives each side half on a tie. */
static void test_max_ties(void **state) {
    (void)state;
    IrGraph *g = graph();
    int p = P(g, "p", SHAPE(C(4)));
    int q = P(g, "q", SHAPE(C(4)));
    int m = ir_reduce(g, IR_RMAX, p, 1, NOSPAN);
    int mx = ir_reduce(g, IR_SUM, ir_binary(g, IR_MAX, p, q, NOSPAN), 1, NOSPAN);
    g->loss = ir_binary(g, IR_ADD, m, mx, NOSPAN);
    ad_differentiate(g);
    double pv[4] = {1, 3, 3, 2}, qv[4] = {1, 0, 5, 2}, gp[4], gq[4];
    double *params[] = {pv, qv}, *grads[] = {gp, gq};
    interp_loss_grad(g, 1, params, NULL, 1, 0, grads);
    const double want_p[4] = {0.5, 0.5 + 1, 0.5, 0.5}, want_q[4] = {0.5, 0, 1, 0.5};
    for (int i = 0; i < 4; i++) {
        assert_float_equal(gp[i], want_p[i], 1e-15);
        assert_float_equal(gq[i], want_q[i], 1e-15);
    }
}

static int count_updates(const IrGraph *g) {
    int n = 0;
    for (int i = g->n_forward; i < g->nodes.len; i++) n += g->nodes.items[i].op == IR_UPDATE;
    return n;
}

static void test_frozen_stop_gradient_and_random(void **state) {
    (void)state;
    IrGraph *g = graph();
    int frozen = param(g, "frozen", SHAPE(C(3)), false);
    int stopped = P(g, "stopped", SHAPE(C(3)));
    int shifted = P(g, "shifted", SHAPE(C(2), C(4)));
    int w = P(g, "w", SHAPE(C(3)));
    int mask = ir_random(g, IR_BERNOULLI, SHAPE(C(3)), 0.5, 0, 0, NOSPAN);
    int noise = ir_random(g, IR_NORMAL, SHAPE(C(3)), 0, 1, 1, NOSPAN);
    int a = ir_binary(g, IR_MUL, ir_binary(g, IR_MUL, frozen, w, NOSPAN), mask, NOSPAN);
    int b = ir_binary(g, IR_MUL, ir_unary(g, IR_STOP_GRAD, stopped, NOSPAN), noise, NOSPAN);
    int s = ir_reduce(g, IR_SUM, ir_shift2d(g, shifted, 2, 2, 1, 2, NOSPAN), 3, NOSPAN);
    int ab = ir_reduce(g, IR_SUM, ir_binary(g, IR_ADD, a, b, NOSPAN), 1, NOSPAN);
    g->loss = ir_binary(g, IR_ADD, ab, ir_reshape(g, s, SHAPE(C(1)), NOSPAN), NOSPAN);
    ad_differentiate(g);
    assert_true(ir_verify(g, NULL));
    assert_int_equal(g->params.items[0].grad, -1);
    assert_int_equal(g->params.items[1].grad, -1);
    assert_int_equal(g->params.items[2].grad, -1);
    assert_true(g->params.items[3].grad >= 0);
    assert_int_equal(count_updates(g), 1);
    /* the random draws are held fixed between evaluations, so w checks out */
    StrBuf rep = {0};
    if (!ir_gradcheck(g, 1, 7, 1e-6, &rep)) fail_msg("%s", rep.data);
    assert_non_null(strstr(rep.data, "ok   w:"));
    sb_free(&rep);
}

/* Nothing is computed that no trained parameter needs: the branch of the loss
 * that only depends on inputs gets no backward node. */
static void test_only_needed_adjoints(void **state) {
    (void)state;
    IrGraph *g = graph();
    int x = input(g, "x", SHAPE(Bd(), C(3)), IR_F32);
    int w = P(g, "w", SHAPE(C(3)));
    int e = ir_unary(g, IR_EXP, x, NOSPAN);
    int lin = ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, x, w, NOSPAN), 3, NOSPAN);
    g->loss = ir_binary(g, IR_ADD, lin, ir_reduce(g, IR_SUM, e, 3, NOSPAN), NOSPAN);
    ad_differentiate(g);
    for (int i = g->n_forward; i < g->nodes.len; i++) {
        const IrNode *n = &g->nodes.items[i];
        assert_true(n->backward);
        for (int k = 0; k < n->nin; k++) assert_int_not_equal(n->in[k], e);
    }
    assert_int_equal(count_updates(g), 1);
}

static int teardown(void **state) {
    (void)state;
    arena_free(&arena);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_ops),
        cmocka_unit_test(test_binary_ops),
        cmocka_unit_test(test_broadcast_both_directions),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_movement),
        cmocka_unit_test(test_concat_batch_axis),
        cmocka_unit_test(test_matmul_all_transposes),
        cmocka_unit_test(test_gather_scatter),
        cmocka_unit_test(test_gather_touches_only_rows_read),
        cmocka_unit_test(test_max_ties),
        cmocka_unit_test(test_frozen_stop_gradient_and_random),
        cmocka_unit_test(test_only_needed_adjoints),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
