/* test_ir.c — shape rules of the builders, ir_verify and the text form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "ir.h"

static const Span NOSPAN = {0};

static IrShape sh2(IrDim a, IrDim b) { return ir_shape(2, (IrDim[]){a, b}); }
static IrDim C(int64_t c) { return ir_dim_const(c); }

static int param(IrGraph *g, const char *name, IrShape s) {
    IrParam p = {.name = name, .component = "t", .shape = s, .trained = true};
    return ir_add_param(g, p);
}

static int input(IrGraph *g, IrShape s, IrDType dt) {
    IrInput in = {.dataset = "d", .field = "x", .shape = s, .dtype = dt};
    return ir_add_input(g, in);
}

static void assert_verifies(const IrGraph *g) {
    StrBuf why = {0};
    bool ok = ir_verify(g, &why);
    if (!ok) fail_msg("%s", why.data);
    sb_free(&why);
}

static void test_broadcast_inserts_explicit_nodes(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, sh2(ir_dim_batch(), C(4)), IR_F32);
    int b = param(g, "b", ir_shape(1, (IrDim[]){C(4)}));
    int s = ir_binary(g, IR_ADD, x, b, NOSPAN);
    const IrNode *n = &g->nodes.items[s];
    assert_int_equal(n->shape.rank, 2);
    assert_true(ir_dim_eq(n->shape.d[0], ir_dim_batch()));
    assert_int_equal(n->shape.d[1].c, 4);
    assert_int_equal(n->in[0], x);
    assert_int_equal(g->nodes.items[n->in[1]].op, IR_BROADCAST);
    /* the other direction: a [B,1] column broadcasts against a [1,4] row */
    int col = ir_reduce(g, IR_SUM, x, 2, NOSPAN);
    int row = ir_reshape(g, b, sh2(C(1), C(4)), NOSPAN);
    int m = ir_binary(g, IR_MUL, col, row, NOSPAN);
    n = &g->nodes.items[m];
    assert_int_equal(g->nodes.items[n->in[0]].op, IR_BROADCAST);
    assert_int_equal(g->nodes.items[n->in[1]].op, IR_BROADCAST);
    assert_true(ir_dim_eq(n->shape.d[0], ir_dim_batch()));
    assert_int_equal(n->shape.d[1].c, 4);
    assert_verifies(g);
    arena_free(&a);
}

static void test_broadcast_shape_rules(void **state) {
    (void)state;
    IrShape out;
    IrShape bx = sh2(ir_dim_batch(), C(3)), b1 = sh2(ir_dim_batch(), C(1));
    IrShape two_b = sh2((IrDim){2, 0}, C(3));
    assert_true(ir_broadcast_shape(&bx, &b1, &out));
    assert_true(ir_shape_eq(&out, &bx));
    assert_false(ir_broadcast_shape(&bx, &two_b, &out)); /* B vs 2*B */
    IrShape s3 = ir_shape(1, (IrDim[]){C(3)}), s4 = ir_shape(1, (IrDim[]){C(4)});
    assert_false(ir_broadcast_shape(&s3, &s4, &out));
    assert_int_equal(ir_dim_value((IrDim){2, 1}, 5), 11);
    assert_int_equal(ir_shape_numel(&two_b, 4), 24);
}

static void test_matmul_shapes(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, sh2(ir_dim_batch(), C(5)), IR_F32);
    int w = param(g, "w", sh2(C(5), C(7)));
    int wt = param(g, "wt", sh2(C(7), C(5)));
    int y = ir_matmul(g, x, w, false, false, NOSPAN);
    int y2 = ir_matmul(g, x, wt, false, true, NOSPAN);
    int gram = ir_matmul(g, x, x, true, false, NOSPAN); /* [5, 5] */
    assert_true(ir_shape_eq(&g->nodes.items[y].shape, &g->nodes.items[y2].shape));
    assert_int_equal(g->nodes.items[y].shape.d[1].c, 7);
    assert_int_equal(g->nodes.items[gram].shape.d[0].c, 5);
    int a3 = param(g, "a3", ir_shape(3, (IrDim[]){C(2), C(3), C(4)}));
    int b3 = param(g, "b3", ir_shape(3, (IrDim[]){C(2), C(6), C(4)}));
    int z = ir_matmul(g, a3, b3, false, true, NOSPAN);
    IrShape want = ir_shape(3, (IrDim[]){C(2), C(3), C(6)});
    assert_true(ir_shape_eq(&g->nodes.items[z].shape, &want));
    assert_verifies(g);
    /* inner dims that differ are reported by the verifier */
    ir_matmul(g, x, wt, false, false, NOSPAN);
    StrBuf why = {0};
    assert_false(ir_verify(g, &why));
    assert_non_null(strstr(why.data, "inner dims differ"));
    sb_free(&why);
    arena_free(&a);
}

static void test_movement_shapes(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, ir_shape(3, (IrDim[]){ir_dim_batch(), C(4), C(6)}), IR_F32);
    int t = ir_transpose(g, x, (int[]){2, 0, 1}, NOSPAN);
    IrShape want_t = ir_shape(3, (IrDim[]){C(6), ir_dim_batch(), C(4)});
    assert_true(ir_shape_eq(&g->nodes.items[t].shape, &want_t));
    int r = ir_reshape(g, x, sh2(ir_dim_batch(), C(24)), NOSPAN);
    int s = ir_slice(g, r, 1, 2, 10, NOSPAN);
    assert_int_equal(g->nodes.items[s].shape.d[1].c, 8);
    int p = ir_pad(g, s, 1, 1, 3, NOSPAN);
    assert_int_equal(g->nodes.items[p].shape.d[1].c, 12);
    int c = ir_concat(g, r, r, 0, NOSPAN);
    assert_true(ir_dim_eq(g->nodes.items[c].shape.d[0], (IrDim){2, 0}));
    int m = ir_reduce(g, IR_RMAX, x, 1u << 2, NOSPAN);
    assert_int_equal(g->nodes.items[m].shape.d[2].c, 1);
    int am = ir_reduce(g, IR_ARGMAX, x, 1u << 2, NOSPAN);
    assert_int_equal(g->nodes.items[am].dtype, IR_I32);
    int tab = param(g, "emb", sh2(C(10), C(3)));
    int idx = input(g, sh2(ir_dim_batch(), C(2)), IR_I32);
    int ga = ir_gather(g, tab, idx, NOSPAN);
    IrShape want_g = ir_shape(3, (IrDim[]){ir_dim_batch(), C(2), C(3)});
    assert_true(ir_shape_eq(&g->nodes.items[ga].shape, &want_g));
    int sc = ir_scatter_add(g, idx, ga, sh2(C(10), C(3)), NOSPAN);
    assert_int_equal(g->nodes.items[sc].shape.d[0].c, 10);
    int oh = ir_one_hot(g, idx, 5, NOSPAN);
    assert_int_equal(g->nodes.items[oh].shape.rank, 3);
    assert_verifies(g);
    /* a reshape that changes the element count for some B is caught */
    ir_reshape(g, x, sh2(C(4), C(24)), NOSPAN);
    assert_false(ir_verify(g, NULL));
    arena_free(&a);
}

static void test_print_golden(void **state) {
    (void)state;
    Arena a = {0};
    SrcFile f = {.path = "enc.rl", .text = "", .len = 0};
    Span at = {.file = &f, .line = 5, .col = 9};
    IrGraph *g = ir_graph_new(&a, "pre");
    int x = input(g, sh2(ir_dim_batch(), C(4)), IR_F32);
    int w = param(g, "enc.w", sh2(C(3), C(4)));
    int y = ir_matmul(g, x, w, false, true, at);
    int s = ir_reduce(g, IR_SUM, y, 3, NOSPAN);
    g->loss = s;
    ir_add_report(g, "loss", s, NOSPAN);
    StrBuf out = {0};
    ir_print(g, &out);
    assert_string_equal(out.data,
                        "graph pre\n"
                        "param 0 enc.w [3, 4] glorot trained node=%1\n"
                        "input 0 d.x [B, 4] f32 node=%0\n"
                        "%0 = input [B, 4] f32 d.x\n"
                        "%1 = param [3, 4] f32 enc.w\n"
                        "%2 = matmul %0, %1 [B, 3] f32 trans_b  # enc.rl:5:9\n"
                        "%3 = sum %2 [1, 1] f32 axes=0,1\n"
                        "report loss = %3\n"
                        "loss = %3\n");
    sb_free(&out);
    assert_verifies(g);
    arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcast_inserts_explicit_nodes),
        cmocka_unit_test(test_broadcast_shape_rules),
        cmocka_unit_test(test_matmul_shapes),
        cmocka_unit_test(test_movement_shapes),
        cmocka_unit_test(test_print_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
