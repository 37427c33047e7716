/* test_lower.c — lowering whole programs: parse + sema + lower in process, then
 * the graphs' parameters, shapes, settings and datasets, and one stage run
 * through the reference interpreter against a value worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "interp.h"
#include "lower.h"
#include "sema.h"

typedef struct Fixture {
    Arena arena;
    Diags diags;
    IrProgram *ir;
} Fixture;

static Fixture *fx_new(void) {
    Fixture *fx = calloc(1, sizeof *fx);
    fx->diags.arena = &fx->arena;
    return fx;
}

static void fx_free(Fixture *fx) {
    arena_free(&fx->arena);
    free(fx);
}

/* Parses, checks and lowers `src` as the main module; every dataset property is 7. */
static IrProgram *lower_text(Fixture *fx, const char *src) {
    Arena *a = &fx->arena;
    SrcFile *f = arena_alloc(a, sizeof *f);
    f->path = "test.rl";
    f->text = src;
    f->len = strlen(src);
    Program *p = arena_alloc(a, sizeof *p);
    p->arena = a;
    p->diags = &fx->diags;
    Module *m = ast_parse_file(a, &fx->diags, f, "main");
    vec_push(a, &p->modules, m);
    if (fx->diags.errors || !sema_run(p)) {
        diag_print(&fx->diags, stderr);
        return NULL;
    }
    LowerOptions o = {.small_dims = 7};
    fx->ir = lower_program(p, &fx->diags, &o);
    if (!fx->ir) diag_print(&fx->diags, stderr);
    return fx->ir;
}

static const IrStage *stage(const IrProgram *ir, const char *name) {
    for (int i = 0; i < ir->stages.len; i++)
        if (strcmp(ir->stages.items[i].name, name) == 0) return &ir->stages.items[i];
    fail_msg("no stage %s", name);
    return NULL;
}

static const IrParam *param(const IrGraph *g, const char *name) {
    for (int i = 0; i < g->params.len; i++)
        if (strcmp(g->params.items[i].name, name) == 0) return &g->params.items[i];
    fail_msg("no param %s", name);
    return NULL;
}

static bool has_param(const IrGraph *g, const char *name) {
    for (int i = 0; i < g->params.len; i++)
        if (strcmp(g->params.items[i].name, name) == 0) return true;
    return false;
}

static int count_op(const IrGraph *g, IrOp op) {
    int n = 0;
    for (int i = 0; i < g->nodes.len; i++) n += g->nodes.items[i].op == op;
    return n;
}

static const char *PRELUDE =
    "dataset d {\n"
    "    x: [4] = csv(\"points.csv\", columns = 4) / 255\n"
    "    y: i32 = csv(\"labels.csv\", columns = 1)\n"
    "}\n"
    "layer dense(x: [B, I], n: int) -> [B, n] {\n"
    "    param w: [I, n] = glorot\n"
    "    param b: [n] = zeros\n"
    "    return x @ w + b\n"
    "}\n"
    "layer block(x: [B, I], n: int) -> [B, n] = dense(relu(dense(x, n)), n)\n";

static char *with_prelude(Fixture *fx, const char *body) {
    return arena_printf(&fx->arena, "%s%s", PRELUDE, body);
}

/* Layer instances are named by call site within the enclosing component; a
 * layer inside a layer nests; an encoder called twice shares its parameters;
 * stage-level layers and params are named after the stage. */
static void test_param_names(void **state) {
    Fixture *fx = fx_new();
    IrProgram *ir = lower_text(fx, with_prelude(fx,
        "encoder enc(x: [B, 4]) -> [B, 3] = dense(block(dense(x, 5), 6), 3)\n"
        "train probe {\n"
        "    data: d\n"
        "    param t: f32 = 2.66\n"
        "    a = enc(x)\n"
        "    b = enc(x * 2)\n"
        "    minimize mean(dense(a + b, 2)) * t\n"
        "}\n"));
    assert_non_null(ir);
    const IrGraph *g = stage(ir, "probe")->forward;
    assert_true(has_param(g, "enc.dense0.w"));
    assert_true(has_param(g, "enc.dense0.b"));
    assert_true(has_param(g, "enc.block0.dense0.w"));
    assert_true(has_param(g, "enc.block0.dense1.b"));
    assert_true(has_param(g, "enc.dense1.w"));
    assert_true(has_param(g, "probe.dense0.w"));
    /* enc: dense0, block0.dense0, block0.dense1, dense1 (8 params); the stage's
     * dense0 (2) and t: calling enc a second time adds none */
    assert_int_equal(g->params.len, 11);
    assert_int_equal(count_op(g, IR_PARAM), 11);
    const IrParam *t = param(g, "probe.t");
    assert_int_equal(t->shape.rank, 0);
    assert_int_equal(t->init, INIT_VALUE);
    assert_true(fabs(t->init_a - 2.66) < 1e-12);
    assert_string_equal(t->component, "probe");
    const IrParam *w = param(g, "enc.block0.dense0.w");
    assert_string_equal(w->component, "enc");
    assert_int_equal(w->init, INIT_GLOROT);
    assert_int_equal(w->shape.rank, 2);
    assert_int_equal(w->shape.d[0].c, 5);
    assert_int_equal(w->shape.d[1].c, 6);
    assert_true(w->trained);
    fx_free(fx);
}

/* Shapes keep B symbolic; reductions drop their axes; mean over B divides by a dimval. */
static void test_shapes_with_batch(void **state) {
    Fixture *fx = fx_new();
    IrProgram *ir = lower_text(fx, with_prelude(fx,
        "train s {\n"
        "    data: d\n"
        "    batch: 32\n"
        "    h = dense(x, 3)\n"
        "    r = sum(h, axis = -1)\n"
        "    minimize mean(r)\n"
        "    report n = float(argmax(h, axis = 1))[0]\n"
        "}\n"));
    assert_non_null(ir);
    const IrStage *s = stage(ir, "s");
    assert_int_equal(s->batch, 32);
    const IrGraph *g = s->forward;
    assert_int_equal(g->inputs.len, 1);
    const IrInput *in = &g->inputs.items[0];
    assert_string_equal(in->field, "x");
    assert_int_equal(in->shape.rank, 2);
    assert_true(ir_dim_eq(in->shape.d[0], ir_dim_batch()));
    assert_int_equal(in->shape.d[1].c, 4);
    /* the minimized value is an f32 scalar; one dimval (B) divides the sum */
    assert_true(g->loss >= 0);
    assert_int_equal(g->nodes.items[g->loss].shape.rank, 0);
    assert_int_equal(count_op(g, IR_DIMVAL), 1);
    for (int i = 0; i < g->nodes.len; i++) {
        const IrNode *n = &g->nodes.items[i];
        if (n->op == IR_DIMVAL) assert_true(ir_dim_eq(n->dim, ir_dim_batch()));
        if (n->op == IR_MATMUL) {
            assert_true(ir_dim_eq(n->shape.d[0], ir_dim_batch()));
            assert_int_equal(n->shape.d[1].c, 3);
        }
    }
    assert_int_equal(g->reports.len, 1);
    assert_int_equal(g->nodes.items[g->reports.items[0].node].shape.rank, 0);
    fx_free(fx);
}

/* A 2-D side of a batched `@` ([3, 4] @ [B, 2, 4, 3], and a transposed 3-D left side
 * beside a 2-D right one) stays 2-D in the product, which reads it for every batch
 * element: nothing broadcasts it to the batch first, forward or backward. */
static void test_matmul_shared_side(void **state) {
    Fixture *fx = fx_new();
    IrProgram *ir = lower_text(fx, with_prelude(fx,
        "train s {\n"
        "    data: d\n"
        "    param u: [3, 4] = uniform(-1, 1)\n"
        "    k = reshape(concat(x, x, axis = 1), [B, 2, 4, 1]) * reshape(x[:, 0:3], [B, 1, 1, 3])\n"
        "    minimize mean(u @ k) + mean(k.mT @ u.T)\n"
        "}\n"));
    assert_non_null(ir);
    const IrStage *s = stage(ir, "s");
    for (int pass = 0; pass < 2; pass++) {
        const IrGraph *g = pass ? s->graph : s->forward;
        int shared = 0, u = param(g, "s.u")->node;
        for (int i = 0; i < g->nodes.len; i++) {
            const IrNode *n = &g->nodes.items[i];
            if (n->op == IR_BROADCAST) assert_int_not_equal(n->in[0], u);
            if (n->op != IR_MATMUL) continue;
            int ra = g->nodes.items[n->in[0]].shape.rank, rb = g->nodes.items[n->in[1]].shape.rank;
            shared += (n->in[0] == u || n->in[1] == u) && ra != rb;
            assert_int_equal(n->shape.rank, ra > rb ? ra : rb);
        }
        assert_int_equal(shared, 2);
    }
    fx_free(fx);
}

/* freeze makes a component's parameters untrained; an eval stage trains nothing. */
static void test_freeze_and_eval(void **state) {
    Fixture *fx = fx_new();
    IrProgram *ir = lower_text(fx, with_prelude(fx,
        "encoder enc(x: [B, 4]) -> [B, 3] = dense(x, 3)\n"
        "train probe {\n"
        "    data: d\n"
        "    freeze: [enc]\n"
        "    optimizer: sgd(lr = 0.1, momentum = 0.9)\n"
        "    schedule: linear(to = 0)\n"
        "    steps: 100\n"
        "    seed: 7\n"
        "    validate: test\n"
        "    minimize mean(dense(enc(x), 2))\n"
        "}\n"
        "eval test {\n"
        "    data: d\n"
        "    report m = mean(enc(x))\n"
        "}\n"));
    assert_non_null(ir);
    const IrStage *p = stage(ir, "probe");
    assert_false(param(p->forward, "enc.dense0.w")->trained);
    assert_true(param(p->forward, "probe.dense0.w")->trained);
    assert_int_equal(p->batch, 64);
    assert_int_equal(p->steps, 100);
    assert_int_equal(p->seed, 7);
    assert_string_equal(p->validate, "test");
    assert_int_equal(p->freeze.len, 1);
    assert_int_equal(p->graph->optim.kind, OPT_SGD);
    assert_true(fabs(p->graph->optim.lr - 0.1) < 1e-12);
    assert_true(fabs(p->graph->optim.momentum - 0.9) < 1e-12);
    assert_int_equal(p->graph->optim.schedule, SCHED_LINEAR);
    /* gradients only for what is trained: the frozen encoder gets none */
    assert_true(param(p->raw, "probe.dense0.w")->grad >= 0);
    assert_int_equal(param(p->raw, "enc.dense0.w")->grad, -1);
    const IrStage *t = stage(ir, "test");
    assert_false(t->is_train);
    assert_false(param(t->forward, "enc.dense0.w")->trained);
    assert_int_equal(t->forward->loss, -1);
    fx_free(fx);
}

/* Dataset fields become rt_field_specs with their load-time arithmetic; skipgram
 * gets its three fields and options; its `.vocab` is a dim from the options. */
static void test_datasets(void **state) {
    Fixture *fx = fx_new();
    IrProgram *ir = lower_text(fx, with_prelude(fx,
        "dataset brown = skipgram(text(\"brown/\", lowercase = true, min_count = 3),\n"
        "                         window = 4, negatives = 6, subsample = 1e-4)\n"
        "encoder word(w: i32[...]) -> [..., 8] {\n"
        "    param e: [brown.vocab, 8] = uniform(-0.5, 0.5)\n"
        "    return e[w]\n"
        "}\n"
        "train sg {\n"
        "    data: brown\n"
        "    minimize sum(word(center) * sum(word(negatives), axis = 1))\n"
        "}\n"));
    assert_non_null(ir);
    assert_int_equal(ir->datasets.len, 2);
    const rt_dataset_spec *d = ir->datasets.items[0];
    assert_string_equal(d->name, "d");
    assert_int_equal(d->n_fields, 2);
    assert_int_equal(d->fields[0].kind, RT_SRC_CSV);
    assert_int_equal(d->fields[0].columns, 4);
    assert_int_equal(d->fields[0].rank, 1);
    assert_int_equal(d->fields[0].dims[0], 4);
    assert_int_equal(d->fields[0].n_ops, 1);
    assert_int_equal(d->fields[0].ops[0].op, '/');
    assert_true(d->fields[0].ops[0].value == 255);
    assert_true(d->fields[1].is_i32);
    assert_int_equal(d->fields[1].rank, 0);
    const rt_dataset_spec *b = ir->datasets.items[1];
    assert_true(b->skipgram);
    assert_string_equal(b->text_path, "brown/");
    assert_true(b->lowercase);
    assert_int_equal(b->min_count, 3);
    assert_int_equal(b->window, 4);
    assert_int_equal(b->negatives, 6);
    assert_true(fabs(b->subsample - 1e-4) < 1e-15);
    assert_int_equal(b->n_fields, 3);
    assert_string_equal(b->fields[2].name, "negatives");
    assert_int_equal(b->fields[2].dims[0], 6);

    const IrGraph *g = stage(ir, "sg")->forward;
    const IrParam *e = param(g, "word.e");
    assert_int_equal(e->shape.d[0].c, 7);    /* small_dims */
    assert_int_equal(e->init, INIT_UNIFORM);
    assert_true(e->init_a == -0.5 && e->init_b == 0.5);
    assert_int_equal(g->params.len, 1);      /* word called twice: one table */
    assert_int_equal(count_op(g, IR_GATHER), 2);
    fx_free(fx);
}

/* Random ops get one RNG stream each, even through one pretext called twice. */
static void test_random_streams(void **state) {
    Fixture *fx = fx_new();
    IrProgram *ir = lower_text(fx, with_prelude(fx,
        "pretext noisy(x: [B, D], keep = 0.5) -> [B, D] = x * bernoulli(keep, [B, D])\n"
        "train s {\n"
        "    data: d\n"
        "    a = noisy(x)\n"
        "    b = noisy(x, keep = 0.25)\n"
        "    minimize mean(dense(a - b, 1))\n"
        "}\n"));
    assert_non_null(ir);
    const IrGraph *g = stage(ir, "s")->forward;
    int seen = 0, streams[2] = {-1, -1};
    double p[2] = {0, 0};
    for (int i = 0; i < g->nodes.len; i++) {
        const IrNode *n = &g->nodes.items[i];
        if (n->op != IR_BERNOULLI) continue;
        assert_true(seen < 2);
        streams[seen] = n->index;
        p[seen++] = n->a;
        assert_true(ir_dim_eq(n->shape.d[0], ir_dim_batch()));
    }
    assert_int_equal(seen, 2);
    assert_int_not_equal(streams[0], streams[1]);
    assert_true(p[0] == 0.5 && p[1] == 0.25);
    fx_free(fx);
}

/* A wrong program is an error with a span, never a crash. */
static void test_bad_minimize(void **state) {
    Fixture *fx = fx_new();
    IrProgram *ir = lower_text(fx, with_prelude(fx,
        "train s {\n"
        "    data: d\n"
        "    minimize x\n"
        "}\n"));
    assert_null(ir);
    assert_true(fx->diags.errors > 0);
    fx_free(fx);
}

/* The lowered forward graph of a stage, run by the interpreter: with x = [[1, 2],
 * [3, 4]], w = [[1], [-1]], t = 2: x @ w = [-1, -1], loss = mean((x @ w)^2) * t +
 * mean(y) = 2 + 1.5 (y = [1, 2]). */
static void test_interpreted_value(void **state) {
    Fixture *fx = fx_new();
    IrProgram *ir = lower_text(fx,
        "dataset d {\n"
        "    x: [2] = csv(\"p.csv\", columns = 2)\n"
        "    y: i32 = csv(\"l.csv\", columns = 1)\n"
        "}\n"
        "train s {\n"
        "    data: d\n"
        "    param w: [2, 1] = glorot\n"
        "    param t: f32 = 2\n"
        "    minimize mean((x @ w) ^ 2) * t + mean(float(y))\n"
        "}\n");
    assert_non_null(ir);
    const IrGraph *g = stage(ir, "s")->forward;
    assert_int_equal(g->params.len, 2);
    assert_int_equal(g->inputs.len, 2);
    double w[2] = {1, -1}, t[1] = {2};
    double *params[2];
    params[strcmp(g->params.items[0].name, "s.w") == 0 ? 0 : 1] = w;
    params[strcmp(g->params.items[0].name, "s.w") == 0 ? 1 : 0] = t;
    float x[4] = {1, 2, 3, 4};
    int32_t y[2] = {1, 2};
    void *inputs[2];
    inputs[strcmp(g->inputs.items[0].field, "x") == 0 ? 0 : 1] = x;
    inputs[strcmp(g->inputs.items[0].field, "x") == 0 ? 1 : 0] = y;
    InterpRun r = {.g = g, .B = 2, .params_f64 = params, .inputs = inputs};
    assert_true(interp_run(&r));
    assert_non_null(r.v[g->loss]);
    assert_true(fabs(r.v[g->loss][0] - 3.5) < 1e-9);
    interp_run_free(&r);
    fx_free(fx);
}

/* keepdims keeps a reduced axis with size 1 so the result broadcasts back. With x =
 * [[1, 5, 2], [4, 0, 3]]: x - max(x, axis = -1) = [[-4, 0, -3], [0, -4, -1]] sums to -12;
 * argmax of everything is the flat index 1, shaped [1, 1]; mean(x, axis = 0) = [[2.5, 2.5,
 * 2.5]] and sum(x * it) = 2.5 * 15 = 37.5. loss = -12 * w + 1 + 37.5 with w = 1. */
static void test_keepdims_value(void **state) {
    Fixture *fx = fx_new();
    IrProgram *ir = lower_text(fx,
        "dataset d {\n"
        "    x: [3] = csv(\"p.csv\", columns = 3)\n"
        "}\n"
        "train s {\n"
        "    data: d\n"
        "    param w: f32 = 1\n"
        "    a = x - max(x, axis = -1, keepdims = true)\n"
        "    b = float(argmax(x, keepdims = true))\n"
        "    minimize sum(a) * w + sum(b) + sum(x * mean(x, axis = 0, keepdims = true))\n"
        "}\n");
    assert_non_null(ir);
    const IrGraph *g = stage(ir, "s")->forward;
    double w[1] = {1};
    double *params[1] = {w};
    float x[6] = {1, 5, 2, 4, 0, 3};
    void *inputs[1] = {x};
    InterpRun r = {.g = g, .B = 2, .params_f64 = params, .inputs = inputs};
    assert_true(interp_run(&r));
    assert_non_null(r.v[g->loss]);
    assert_true(fabs(r.v[g->loss][0] - 26.5) < 1e-6);
    interp_run_free(&r);
    fx_free(fx);
}

/* A const made from a dataset property is a dim known once the data is: it
 * takes the property's value (small_dims here) wherever it is used, also
 * through arithmetic and another const. */
static void test_const_from_property(void **state) {
    Fixture *fx = fx_new();
    IrProgram *ir = lower_text(fx,
        "dataset toks = tokens(\"ids.txt\", length = 4)\n"
        "const V = toks.vocab\n"
        "const W = 2 * V + 1\n"
        "encoder enc(x: i32[B, 4]) -> [B, 4, W] {\n"
        "    param e: [V, W] = zeros\n"
        "    return e[x]\n"
        "}\n"
        "train t {\n"
        "    data: toks\n"
        "    minimize mean(enc(x)) + mean(one_hot(x, V))\n"
        "}\n");
    assert_non_null(ir);
    const IrGraph *g = stage(ir, "t")->forward;
    const IrParam *e = param(g, "enc.e");
    assert_int_equal(e->shape.d[0].c, 7);
    assert_int_equal(e->shape.d[1].c, 15);
    bool one_hot_of_v = false;
    for (int i = 0; i < g->nodes.len; i++) {
        const IrNode *n = &g->nodes.items[i];
        if (n->op == IR_ONE_HOT) one_hot_of_v = n->shape.d[n->shape.rank - 1].c == 7;
    }
    assert_true(one_hot_of_v);
    fx_free(fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_names),
        cmocka_unit_test(test_shapes_with_batch),
        cmocka_unit_test(test_freeze_and_eval),
        cmocka_unit_test(test_datasets),
        cmocka_unit_test(test_random_streams),
        cmocka_unit_test(test_bad_minimize),
        cmocka_unit_test(test_interpreted_value),
        cmocka_unit_test(test_keepdims_value),
        cmocka_unit_test(test_const_from_property),
        cmocka_unit_test(test_matmul_shared_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
