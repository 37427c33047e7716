/* test_present.c — the presentation settings of a stage (show, show_width,
 * codes, labels, embedding, vectors, neighbours): what lowering records and
 * rejects, and the PCA the codes picture uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "lower.h"
#include "present.h"
#include "sema.h"

typedef struct Fixture {
    Arena arena;
    Diags diags;
} Fixture;

/* Parses, checks and lowers `body` after a small prelude; NULL on any error
 * (the diagnostics stay in fx->diags). Every dataset property is 7. */
static IrProgram *lower_text(Fixture *fx, const char *body) {
    static const char *prelude =
        "dataset d {\n"
        "    x: [4] = csv(\"points.csv\", columns = 4)\n"
        "    v: [3] = csv(\"points.csv\", columns = 3)\n"
        "    y: i32 = csv(\"labels.csv\", columns = 1)\n"
        "}\n"
        "layer dense(x: [B, I], n: int) -> [B, n] {\n"
        "    param w: [I, n] = glorot\n"
        "    return x @ w\n"
        "}\n"
        "encoder enc(x: [B, 4]) -> [B, 2] = dense(x, 2)\n"
        "decoder dec(z: [B, 2]) -> [B, 4] = dense(z, 4)\n"
        "encoder word(w: i32[...]) -> [..., 5] {\n"
        "    param e: [9, 5] = zeros\n"
        "    return e[w]\n"
        "}\n";
    Arena *a = &fx->arena;
    fx->diags.arena = a;
    SrcFile *f = arena_alloc(a, sizeof *f);
    f->path = "test.rl";
    f->text = arena_printf(a, "%s%s", prelude, body);
    f->len = strlen(f->text);
    Program *p = arena_alloc(a, sizeof *p);
    p->arena = a;
    p->diags = &fx->diags;
    vec_push(a, &p->modules, ast_parse_file(a, &fx->diags, f, "main"));
    if (fx->diags.errors || !sema_run(p)) return NULL;
    LowerOptions o = {.small_dims = 7};
    return lower_program(p, &fx->diags, &o);
}

/* The first diagnostic's message contains `what`. */
static void assert_error(Fixture *fx, const char *what) {
    StrBuf sb = {0};
    for (int i = 0; i < fx->diags.items.len; i++) sb_printf(&sb, "%s\n", fx->diags.items.items[i].msg);
    if (!sb.data || !strstr(sb.data, what)) fail_msg("expected an error with \"%s\", got:\n%s", what, sb.data);
    sb_free(&sb);
}

/* show keeps each named binding's node in the forward graph, dataset fields
 * included; codes and labels point at the f32 [B, Z] and i32 [B] nodes. */
static void test_settings_recorded(void **state) {
    (void)state;
    Fixture fx = {0};
    IrProgram *ir = lower_text(&fx,
        "eval look {\n"
        "    data:   d\n"
        "    show:   [x, xhat]\n"
        "    show_count: 4\n"
        "    codes:  z\n"
        "    labels: y\n"
        "    z = enc(x)\n"
        "    xhat = dec(z)\n"
        "    report err = mean((xhat - x) ^ 2)\n"
        "}\n");
    assert_non_null(ir);
    const IrStage *s = &ir->stages.items[0];
    assert_int_equal(s->show.len, 2);
    assert_string_equal(s->show.items[0].name, "x");
    assert_string_equal(s->show.items[1].name, "xhat");
    assert_int_equal(s->show_count, 4);
    const IrGraph *g = s->forward;
    assert_int_equal(g->nodes.items[s->show.items[0].node].op, IR_INPUT);
    assert_int_equal(g->nodes.items[s->show.items[1].node].shape.d[1].c, 4);
    assert_true(s->codes >= 0 && s->labels >= 0);
    assert_int_equal(g->nodes.items[s->codes].shape.rank, 2);
    assert_int_equal(g->nodes.items[s->codes].shape.d[1].c, 2);
    assert_int_equal(g->nodes.items[s->labels].dtype, IR_I32);
    assert_true(present_wanted(s));
    arena_free(&fx.arena);
}

static void test_no_settings_no_hook(void **state) {
    (void)state;
    Fixture fx = {0};
    IrProgram *ir = lower_text(&fx, "eval look {\n data: d\n report m = mean(enc(x))\n}\n");
    assert_non_null(ir);
    const IrStage *s = &ir->stages.items[0];
    assert_int_equal(s->codes, -1);
    assert_int_equal(s->labels, -1);
    assert_false(present_wanted(s));
    arena_free(&fx.arena);
}

static void test_embedding(void **state) {
    (void)state;
    Fixture fx = {0};
    IrProgram *ir = lower_text(&fx,
        "eval look {\n"
        "    data: d\n"
        "    embedding: word\n"
        "    vectors: \"v.txt\"\n"
        "    neighbours: [\"a\", \"b\"]\n"
        "    report m = mean(word(y))\n"
        "}\n");
    assert_non_null(ir);
    const IrStage *s = &ir->stages.items[0];
    assert_string_equal(s->embedding, "word");
    assert_string_equal(s->vectors, "v.txt");
    assert_int_equal(s->neighbours.len, 2);
    assert_string_equal(s->neighbours.items[1], "b");
    arena_free(&fx.arena);
}

/* Each mistake is an error that says what is wrong. */
static void test_rejected(void **state) {
    (void)state;
    static const struct {
        const char *body, *error;
    } cases[] = {
        {"eval e {\n data: d\n show: [nope]\n report m = mean(x)\n}\n", "neither a tensor bound"},
        {"eval e {\n data: d\n show: [v]\n report m = mean(v)\n}\n", "give `show_width`"},
        {"eval e {\n data: d\n show: [v]\n show_width: 2\n report m = mean(v)\n}\n", "not rows of show_width"},
        {"eval e {\n data: d\n codes: y\n report m = mean(x)\n}\n", "`codes` must be f32 [B, Z]"},
        {"eval e {\n data: d\n codes: x\n labels: x\n report m = mean(x)\n}\n", "`labels` must be i32 [B]"},
        {"eval e {\n data: d\n labels: y\n report m = mean(x)\n}\n", "`labels` goes with `codes`"},
        {"eval e {\n data: d\n vectors: \"v.txt\"\n report m = mean(x)\n}\n", "goes with `embedding`"},
        {"eval e {\n data: d\n neighbours: [king]\n embedding: word\n report m = mean(word(y))\n}\n",
         "words in quotes"},
        {"eval e {\n data: d\n embedding: enc\n report m = mean(x)\n}\n", "exactly one 2-D parameter"},
        {"eval e {\n data: d\n show: [\"x\"]\n report m = mean(x)\n}\n", "bindings of the stage by name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Fixture fx = {0};
        assert_null(lower_text(&fx, cases[i].body));
        assert_error(&fx, cases[i].error);
        arena_free(&fx.arena);
    }
}

/* Points on a tilted plane in 3-D: PCA finds the plane (all the variance in two
 * axes) and keeps distances within it. */
static void test_pca(void **state) {
    (void)state;
    enum { N = 200 };
    double z[N * 3], proj[N * 2];
    for (int i = 0; i < N; i++) {
        double a = sin(0.37 * i) * 3, b = cos(1.3 * i);
        z[i * 3 + 0] = a + 1;
        z[i * 3 + 1] = (a + b) / sqrt(2.0) - 2;
        z[i * 3 + 2] = (a - b) / sqrt(2.0);
    }
    double explained = present_pca2(z, N, 3, proj);
    assert_true(fabs(explained - 1.0) < 1e-9);
    for (int i = 1; i < N; i++) {
        double d3 = 0, d2 = 0;
        for (int k = 0; k < 3; k++) d3 += pow(z[i * 3 + k] - z[k], 2);
        for (int k = 0; k < 2; k++) d2 += pow(proj[i * 2 + k] - proj[k], 2);
        assert_true(fabs(d3 - d2) < 1e-6 * (1 + d3));
    }
    /* isotropic noise in 4-D: two axes of four hold about half the variance */
    double w[N * 4], p2[N * 2];
    for (int i = 0; i < N * 4; i++) w[i] = sin(12.9898 * i) * 43758.5453 - floor(sin(12.9898 * i) * 43758.5453);
    double e = present_pca2(w, N, 4, p2);
    assert_true(e > 0.4 && e < 0.75);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_recorded),
        cmocka_unit_test(test_no_settings_no_hook),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_pca),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
