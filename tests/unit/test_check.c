/* test_check.c — the shape algebra of sema: canonical dims, substitution,
 * broadcasting, and the checker on small programs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sema_impl.h"

static Arena arena;

static const char *dstr(const Dim *d) {
    StrBuf sb = {0};
    dim_print(d, &sb);
    const char *s = arena_strdup(&arena, sb.data);
    sb_free(&sb);
    return s;
}

static Type *shape(int rank, const Dim *dims) { return type_tensor(&arena, DT_F32, rank, dims); }

static void test_dim_canonical(void **state) {
    (void)state;
    DimSym *b = sema_new_sym(&arena, SYM_VAR, "B", NULL, 0);
    DimSym *e = sema_new_sym(&arena, SYM_VAR, "E", NULL, 1);
    Dim B = dim_sym(b), E = dim_sym(e), two = dim_const(2), x, y;
    /* B + B == 2*B */
    assert_true(dim_add(&x, &B, &B));
    assert_true(dim_mul(&y, &two, &B));
    assert_true(dim_eq(&x, &y));
    assert_string_equal(dstr(&x), "2*B");
    /* B*E == E*B, and differs from B + E */
    Dim be, eb, bpe;
    dim_mul(&be, &B, &E);
    dim_mul(&eb, &E, &B);
    dim_add(&bpe, &B, &E);
    assert_true(dim_eq(&be, &eb));
    assert_false(dim_eq(&be, &bpe));
    /* (B + 1) - B is the constant 1 */
    Dim one = dim_const(1), bp1, back;
    dim_add(&bp1, &B, &one);
    assert_string_equal(dstr(&bp1), "B + 1");
    dim_sub(&back, &bp1, &B);
    long v = 0;
    assert_true(dim_is_const(&back, &v));
    assert_int_equal(v, 1);
    /* B - B is 0 */
    dim_sub(&back, &B, &B);
    assert_true(dim_is_const(&back, &v));
    assert_int_equal(v, 0);
    assert_false(dim_is_const(&B, NULL));
}

static void test_dim_subst(void **state) {
    (void)state;
    Item owner = {0};
    DimSym *n = sema_new_sym(&arena, SYM_INT_ARG, "n", &owner, 0);
    DimSym *i = sema_new_sym(&arena, SYM_VAR, "I", &owner, 1);
    Dim N = dim_sym(n), I = dim_sym(i), prod, out;
    dim_mul(&prod, &N, &I);
    DimEnv env = {0};
    DimBinding bn = {n, dim_const(3), "n"};
    vec_push(&arena, &env.items, bn);
    bool complete = true;
    assert_true(dim_subst(&out, &prod, &env, &owner, &complete));
    assert_false(complete);
    assert_string_equal(dstr(&out), "3*I");
    DimBinding bi = {i, dim_const(5), "x"};
    vec_push(&arena, &env.items, bi);
    assert_true(dim_subst(&out, &prod, &env, &owner, &complete));
    assert_true(complete);
    long v;
    assert_true(dim_is_const(&out, &v));
    assert_int_equal(v, 15);
}

static void test_broadcast(void **state) {
    (void)state;
    DimSym *b = sema_new_sym(&arena, SYM_VAR, "B", NULL, 0);
    Dim a[2] = {dim_sym(b), dim_const(32)};
    Dim c[1] = {dim_const(32)};
    Dim d[2] = {dim_sym(b), dim_const(1)};
    Dim f[2] = {dim_sym(b), dim_const(64)};
    int bad = 0;
    Type *r = type_broadcast(&arena, shape(2, a), shape(1, c), &bad);
    assert_non_null(r);
    assert_string_equal(type_str(&arena, r), "[B, 32]");
    r = type_broadcast(&arena, shape(2, d), shape(2, a), &bad);
    assert_non_null(r);
    assert_string_equal(type_str(&arena, r), "[B, 32]");
    assert_null(type_broadcast(&arena, shape(2, a), shape(2, f), &bad));
    assert_int_equal(bad, 1);
    /* a scalar broadcasts to anything; the error type fits anything */
    assert_non_null(type_broadcast(&arena, shape(0, NULL), shape(2, f), &bad));
    assert_non_null(type_broadcast(&arena, type_error(&arena), shape(2, f), &bad));
}

static void test_type_print(void **state) {
    (void)state;
    DimSym *d = sema_new_sym(&arena, SYM_VAR, "D", NULL, 0);
    Dim dims[1] = {dim_sym(d)};
    Type *t = type_tensor(&arena, DT_I32, 1, dims);
    t->ellipsis = true;
    assert_string_equal(type_str(&arena, t), "i32[..., D]");
    assert_string_equal(type_str(&arena, type_scalar(&arena, DT_F32)), "[]");
}

static void test_builtins(void **state) {
    (void)state;
    const Builtin *b = sema_builtin("bernoulli");
    assert_non_null(b);
    assert_true(b->random);
    assert_int_equal(b->id, BI_BERNOULLI);
    assert_false(sema_builtin("sum")->random);
    assert_string_equal(sema_builtin("sum")->named[0], "axis");
    assert_null(sema_builtin("softmax"));   /* stdlib, not built in */
    for (int i = 0; i < BI_COUNT; i++) assert_int_equal(sema_builtin_by_id((BuiltinId)i)->id, i);
}

static void test_edit_distance(void **state) {
    (void)state;
    assert_int_equal(sema_edit_distance("relu", "relu", 2), 0);
    assert_int_equal(sema_edit_distance("relux", "relu", 2), 1);
    assert_int_equal(sema_edit_distance("dnese", "dense", 2), 2);
    assert_true(sema_edit_distance("softmax", "mse", 2) > 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dim_canonical), cmocka_unit_test(test_dim_subst),
        cmocka_unit_test(test_broadcast),     cmocka_unit_test(test_type_print),
        cmocka_unit_test(test_builtins),      cmocka_unit_test(test_edit_distance),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    arena_free(&arena);
    return rc;
}
