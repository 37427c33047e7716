/* test_bounds.c — bounds_inputs on graphs built by hand: an i32 input followed
 * through value-moving ops to one_hot, gather and scatter_add, the smallest bound
 * kept with its use; arithmetic, a where's condition and f32 inputs bound nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "bounds.h"

static SrcFile file = {.path = "t.rl", .text = "", .len = 0};

static Span at(int line) { return (Span){.file = &file, .line = line, .col = 5}; }

static IrShape batch_of(int rank, const int64_t *dims) {
    IrDim d[IR_MAX_RANK] = {ir_dim_batch()};
    for (int k = 0; k < rank; k++) d[k + 1] = ir_dim_const(dims[k]);
    return ir_shape(rank + 1, d);
}

static int input(IrGraph *g, const char *field, IrDType dt, int rank, const int64_t *dims) {
    IrInput in = {.dataset = "d", .field = field, .shape = batch_of(rank, dims), .dtype = dt};
    return ir_add_input(g, in);
}

static int param(IrGraph *g, const char *name, int64_t rows, int64_t width) {
    IrDim d[2] = {ir_dim_const(rows), ir_dim_const(width)};
    IrParam p = {.name = name, .component = "s", .shape = ir_shape(2, d), .init = INIT_ZEROS, .span = at(1)};
    return ir_add_param(g, p);
}

static void test_follows_moves_to_the_smallest_table(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "s");
    int64_t three = 3;
    int y = input(g, "y", IR_I32, 0, NULL);
    int t = input(g, "t", IR_I32, 1, &three);
    int x = input(g, "x", IR_F32, 1, &three);
    int z = input(g, "z", IR_I32, 0, NULL);
    int c = input(g, "c", IR_I32, 0, NULL);
    int big = param(g, "s.big", 10, 4), small = param(g, "s.small", 6, 4);
    /* y: one_hot with 5 classes, and through a where's branch a gather of 10 rows */
    ir_one_hot(g, y, 5, at(7));
    int picked = ir_where(g, c, y, z, at(8));
    ir_gather(g, big, picked, at(9));
    /* t: reshaped, sliced and concatenated, then rows of the 6-row table */
    IrDim flat[1] = {{3, 0}};
    int r = ir_reshape(g, t, ir_shape(1, flat), at(10));
    int head = ir_slice_dim(g, r, 0, ir_dim_const(0), (IrDim){1, 0}, at(11));
    int both = ir_concat(g, head, head, 0, at(12));
    ir_gather(g, big, both, at(13));
    int rows = ir_gather(g, small, ir_transpose(g, t, (int[]){1, 0}, at(14)), at(15));
    (void)rows;
    /* z: shifted by one before it indexes: its values are not the indices */
    int shifted = ir_binary(g, IR_ADD, z, ir_const(g, 1, batch_of(0, NULL), IR_I32, at(16)), at(16));
    ir_gather(g, big, shifted, at(17));
    (void)x;
    rt_index_limit *b = bounds_inputs(&a, g);
    assert_int_equal(b[0].limit, 5);
    assert_string_equal(b[0].use, "a class of one_hot (5 classes) at t.rl:7:5");
    assert_int_equal(b[1].limit, 6);
    assert_string_equal(b[1].use, "a row of s.small (6 rows) at t.rl:15:5");
    assert_int_equal(b[2].limit, 0);   /* f32 */
    assert_int_equal(b[3].limit, 10);  /* z reaches big through the where, not through + 1 */
    assert_string_equal(b[3].use, "a row of s.big (10 rows) at t.rl:9:5");
    assert_int_equal(b[4].limit, 0);   /* a where's condition is not an index */
    arena_free(&a);
}

/* scatter_add (a gradient) bounds by the rows it adds into. */
static void test_scatter_rows(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "s");
    int64_t width = 4;
    int idx = input(g, "i", IR_I32, 0, NULL);
    int rows = input(g, "r", IR_F32, 1, &width);
    IrDim table[2] = {ir_dim_const(8), ir_dim_const(4)};
    ir_scatter_add(g, idx, rows, ir_shape(2, table), at(3));
    rt_index_limit *b = bounds_inputs(&a, g);
    assert_int_equal(b[0].limit, 8);
    assert_string_equal(b[0].use, "a row index into a table of 8 rows at t.rl:3:5");
    arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follows_moves_to_the_smallest_table),
        cmocka_unit_test(test_scatter_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
