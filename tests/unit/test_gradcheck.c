/* test_gradcheck.c — the gradient check can fail: a program is lowered and
 * differentiated, one node of its backward graph is corrupted, and
 * ir_gradcheck must report it; and `rlc gradcheck`'s exit status and lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "interp.h"
#include "lower.h"
#include "sema.h"

/* mean(tanh(x @ w) * r): backward is
 *   g = 1 / (3B), broadcast, * r, * (1 - y*y), x^T @ that. */
static const char *PROGRAM =
    "dataset d {\n"
    "    x: [5] = csv(\"x.csv\", columns = 5)\n"
    "    r: [3] = csv(\"r.csv\", columns = 3)\n"
    "}\n"
    "train t {\n"
    "    data: d\n"
    "    steps: 1\n"
    "    optimizer: sgd(lr = 0.1)\n"
    "    param w: [5, 3] = glorot\n"
    "    minimize mean(tanh(x @ w) * r)\n"
    "}\n";

static const double TOL = 1e-4;

typedef struct Fixture {
    Arena arena;
    Diags diags;
    IrGraph *g;
} Fixture;

static int setup(void **state) {
    Fixture *fx = calloc(1, sizeof *fx);
    Arena *a = &fx->arena;
    fx->diags.arena = a;
    SrcFile *f = arena_alloc(a, sizeof *f);
    f->path = "neg.rl";
    f->text = PROGRAM;
    f->len = strlen(PROGRAM);
    Program *p = arena_alloc(a, sizeof *p);
    p->arena = a;
    p->diags = &fx->diags;
    vec_push(a, &p->modules, ast_parse_file(a, &fx->diags, f, "main"));
    assert_int_equal(fx->diags.errors, 0);
    assert_true(sema_run(p));
    LowerOptions o = {.small_dims = 6, .batch = 4};
    IrProgram *ir = lower_program(p, &fx->diags, &o);
    assert_non_null(ir);
    fx->g = ir->stages.items[0].graph;
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    Fixture *fx = *state;
    arena_free(&fx->arena);
    free(fx);
    return 0;
}

/* The last backward node with this op (and, for a const, this value). */
static IrNode *backward_node(IrGraph *g, IrOp op, double value) {
    for (int id = g->nodes.len - 1; id >= g->n_forward; id--) {
        IrNode *n = &g->nodes.items[id];
        if (n->op == op && (op != IR_CONST || n->a == value)) return n;
    }
    fail_msg("no backward %s node", ir_op_info[op].name);
    return NULL;
}

static void expect_failure(IrGraph *g) {
    StrBuf why = {0};
    assert_true(ir_verify(g, &why));   /* still a well-formed graph: only the numbers are wrong */
    StrBuf rep = {0};
    bool ok = ir_gradcheck(g, 4, 1, TOL, &rep);
    if (ok) fail_msg("a corrupted gradient passed:\n%s", rep.data);
    assert_non_null(strstr(rep.data, "FAIL t.w"));
    sb_free(&rep);
    sb_free(&why);
}

static void test_correct_gradient_passes(void **state) {
    Fixture *fx = *state;
    StrBuf rep = {0};
    bool ok = ir_gradcheck(fx->g, 4, 1, TOL, &rep);
    if (!ok) fail_msg("%s", rep.data);
    assert_non_null(strstr(rep.data, "ok   t.w: worst relative error"));
    sb_free(&rep);
}

/* The 1 of tanh's 1 - y^2 made 1.001: an error of about 1e-3 relative. */
static void test_slightly_wrong_constant_fails(void **state) {
    Fixture *fx = *state;
    IrNode *one = backward_node(fx->g, IR_CONST, 1.0);
    one->a = 1.001;
    expect_failure(fx->g);
}

/* 1 - y^2 computed as 1 + y^2. */
static void test_wrong_sign_fails(void **state) {
    Fixture *fx = *state;
    backward_node(fx->g, IR_SUB, 0)->op = IR_ADD;
    expect_failure(fx->g);
}

/* g * (1 - y^2) computed as g + (1 - y^2). */
static void test_wrong_op_fails(void **state) {
    Fixture *fx = *state;
    backward_node(fx->g, IR_MUL, 0)->op = IR_ADD;
    expect_failure(fx->g);
}

/* dW = x^T g with g replaced by g's first factor only (the chain rule cut short). */
static void test_missing_factor_fails(void **state) {
    Fixture *fx = *state;
    IrNode *mm = backward_node(fx->g, IR_MATMUL, 0);
    const IrNode *prod = &fx->g->nodes.items[mm->in[1]];
    assert_int_equal(prod->op, IR_MUL);
    mm->in[1] = prod->in[0];
    expect_failure(fx->g);
}

/* Reads what the driver wrote to a temporary file. */
static char *slurp(FILE *f) {
    long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

static int run_driver(const char *path, const GradcheckOptions *o, char **out, char **err) {
    FILE *fo = tmpfile(), *fe = tmpfile();
    assert_non_null(fo);
    assert_non_null(fe);
    int status = driver_gradcheck(path, o, fo, fe);
    *out = slurp(fo);
    *err = slurp(fe);
    return status;
}

static void test_driver_passes_and_skips_eval(void **state) {
    (void)state;
    GradcheckOptions o = driver_gradcheck_defaults();
    char *out, *err;
    assert_int_equal(run_driver("gradcheck/nn_dense.rl", &o, &out, &err), 0);
    assert_non_null(strstr(out, "stage t (B = 4):\n"));
    assert_non_null(strstr(out, "  ok   enc.dense0.b: worst relative error"));
    assert_non_null(strstr(out, "stage e: eval stage, no gradients: skipped\n"));
    assert_non_null(strstr(out, "gradcheck: 1 train stage, every gradient within tolerance"));
    free(out);
    free(err);
}

/* A tolerance below double rounding cannot be met: exit status 1, FAIL lines. */
static void test_driver_exit_status_on_failure(void **state) {
    (void)state;
    GradcheckOptions o = driver_gradcheck_defaults();
    o.tolerance = 1e-15;
    o.stage = "t";
    char *out, *err;
    assert_int_equal(run_driver("gradcheck/nn_dense.rl", &o, &out, &err), 1);
    assert_non_null(strstr(out, "  FAIL enc.dense0.w"));
    assert_non_null(strstr(out, "FAILED"));
    assert_null(strstr(out, "stage e"));
    free(out);
    free(err);
}

static void test_driver_unknown_stage(void **state) {
    (void)state;
    GradcheckOptions o = driver_gradcheck_defaults();
    o.stage = "nope";
    char *out, *err;
    assert_int_equal(run_driver("gradcheck/nn_dense.rl", &o, &out, &err), 1);
    assert_non_null(strstr(err, "no stage named `nope`"));
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_correct_gradient_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slightly_wrong_constant_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_sign_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_op_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_factor_fails, setup, teardown),
        cmocka_unit_test(test_driver_passes_and_skips_eval),
        cmocka_unit_test(test_driver_exit_status_on_failure),
        cmocka_unit_test(test_driver_unknown_stage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
