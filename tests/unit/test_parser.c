/* Parser: every construct of the language, juxtaposed statements, error
 * recovery, and robustness against truncated and mutated input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

typedef struct Parsed {
    Arena arena;
    Diags diags;
    Module *m;
} Parsed;

static Parsed *parse_n(const char *text, size_t len) {
    Parsed *p = calloc(1, sizeof *p);
    p->diags.arena = &p->arena;
    SrcFile *f = arena_alloc(&p->arena, sizeof *f);
    f->path = "t.rl";
    char *copy = arena_alloc(&p->arena, len + 1);
    memcpy(copy, text, len);
    f->text = copy;
    f->len = len;
    p->m = ast_parse_file(&p->arena, &p->diags, f, "main");
    return p;
}

static Parsed *parse(const char *text) { return parse_n(text, strlen(text)); }

static void done(Parsed *p) {
    arena_free(&p->arena);
    free(p);
}

static const char sample[] =
    "use std.nn\n"
    "use std.loss as L\n"
    "const D = 784\n"
    "dataset fashion {\n"
    "    x: [784] = idx(\"fashion-mnist/train-images-idx3-ubyte.gz\") / 255\n"
    "    y: i32   = idx(\"fashion-mnist/train-labels-idx1-ubyte.gz\")\n"
    "}\n"
    "dataset table = csv(\"points.csv\", columns = 3)\n"
    "encoder enc(x: [B, D]) -> [B, 32] {\n"
    "    h = relu(dense(x, 256))\n"
    "    return dense(h, 32)\n"
    "}\n"
    "layer lin(x: [..., I], n: int) -> [..., n] {\n"
    "    param w: [I, n] = glorot\n"
    "    return x @ w\n"
    "}\n"
    "pretext denoise(x: [B, D], keep = 0.7) -> ([B, D], [B, D]) {\n"
    "    mask = bernoulli(keep, [B, D])\n"
    "    return (x * mask, x)\n"
    "}\n"
    "fn sq(x: i32[B, 2*D]) -> f32 = -x[:, 0:3] ^ 2\n"
    "train pretrain {\n"
    "    data: fashion\n"
    "    optimizer: adam(lr = 1e-3)\n"
    "    freeze: [enc]\n"
    "    loss: 1\n"
    "    (noisy, clean) = denoise(x)\n"
    "    minimize L.mse(enc(noisy).T, clean)\n"
    "    report acc = mean(argmax(x, axis = 1) == y)\n"
    "}\n";

static void test_every_construct(void **state) {
    Parsed *p = parse(sample);
    assert_int_equal(p->diags.errors, 0);
    Module *m = p->m;
    assert_int_equal(m->items.len, 10);
    Item **it = m->items.items;
    assert_int_equal(it[0]->kind, ITEM_USE);
    assert_string_equal(it[0]->use_path, "std.nn");
    assert_string_equal(it[1]->use_alias, "L");
    assert_int_equal(it[2]->kind, ITEM_CONST);
    assert_true(it[2]->value->num == 784);
    assert_int_equal(it[3]->fields.len, 2);
    assert_int_equal(it[3]->fields.items[1].type->dtype, DT_I32);
    assert_int_equal(it[3]->fields.items[0].source->kind, EX_BINARY);
    assert_int_equal(it[4]->kind, ITEM_DATASET);
    assert_int_equal(it[4]->value->kind, EX_CALL);
    assert_string_equal(it[4]->value->args.items[1].name, "columns");

    Item *enc = it[5];
    assert_int_equal(enc->role, ROLE_ENCODER);
    assert_int_equal(enc->body.len, 2);
    assert_int_equal(enc->results.items[0]->dims.len, 2);

    Item *lin = it[6];
    assert_true(lin->params.items[0].type->ellipsis);
    assert_true(lin->params.items[1].type->is_int);
    assert_int_equal(lin->body.items[0]->kind, ST_PARAM);
    assert_int_equal(lin->body.items[1]->value->op, OP_MATMUL);

    Item *den = it[7];
    assert_true(den->result_is_tuple);
    assert_int_equal(den->results.len, 2);
    assert_null(den->params.items[1].type);
    assert_true(den->params.items[1].default_value->num == 0.7);
    assert_int_equal(den->body.items[1]->value->kind, EX_TUPLE);

    /* `-x[:, 0:3] ^ 2` is -((x[:, 0:3]) ^ 2). */
    Item *sq = it[8];
    assert_int_equal(sq->params.items[0].type->dtype, DT_I32);
    assert_int_equal(sq->params.items[0].type->dims.items[1]->kind, EX_BINARY);
    Expr *e = sq->body.items[0]->value;
    assert_int_equal(sq->body.items[0]->kind, ST_RETURN);
    assert_int_equal(e->kind, EX_NEG);
    assert_int_equal(e->lhs->op, OP_POW);
    assert_int_equal(e->lhs->lhs->kind, EX_INDEX);
    assert_int_equal(e->lhs->lhs->args.items[0].value->kind, EX_SLICE);
    assert_null(e->lhs->lhs->args.items[0].value->lhs);

    Item *st = it[9];
    assert_int_equal(st->kind, ITEM_STAGE);
    assert_int_equal(st->stage_kind, STAGE_TRAIN);
    assert_int_equal(st->body.len, 7);
    assert_int_equal(st->body.items[2]->value->kind, EX_LIST);
    assert_string_equal(st->body.items[3]->names.items[0], "loss");
    assert_int_equal(st->body.items[4]->names.len, 2);
    assert_int_equal(st->body.items[5]->kind, ST_MINIMIZE);
    Expr *call = st->body.items[5]->value;
    assert_int_equal(call->callee->kind, EX_FIELD);
    assert_int_equal(call->args.items[0].value->kind, EX_TRANSPOSE);
    assert_int_equal(st->body.items[6]->kind, ST_REPORT);
    assert_int_equal(st->body.items[6]->value->args.items[0].value->op, OP_EQ);
    done(p);
}

/* Newlines are insignificant, yet these are two statements each. */
static void test_juxtaposed_statements(void **state) {
    Parsed *p = parse("fn f(x: [B]) -> [B] {\n"
                      "    h = f(x)\n"
                      "    (u, v) = g(h)\n"
                      "    w = x\n"
                      "    (a, b) = g(w)\n"
                      "    return a\n"
                      "}\n");
    assert_int_equal(p->diags.errors, 0);
    Item *f = p->m->items.items[0];
    assert_int_equal(f->body.len, 5);
    assert_int_equal(f->body.items[0]->value->kind, EX_CALL);
    assert_int_equal(f->body.items[1]->names.len, 2);
    assert_int_equal(f->body.items[2]->value->kind, EX_NAME);
    assert_int_equal(f->body.items[3]->names.len, 2);
    done(p);
}

static void test_spans(void **state) {
    Parsed *p = parse("const A = 1\nfn f(x: [B]) -> [B] {\n    y = x + 2\n    return y\n}\n");
    Stmt *s = p->m->items.items[1]->body.items[0];
    assert_int_equal(s->span.line, 3);
    assert_int_equal(s->span.col, 5);
    assert_int_equal(s->span.len, 9);
    assert_int_equal(s->value->span.col, 9);
    assert_int_equal(s->value->span.len, 5);
    assert_int_equal(p->m->items.items[1]->name_span.col, 4);
    done(p);
}

static void test_one_typo_one_error(void **state) {
    Parsed *p = parse("encoder enc(x: [B, D]) -> [B, Z] {\n"
                      "    h = relu(dense(x, 256)\n"
                      "    return dense(h, Z)\n"
                      "}\n"
                      "const Z = 32\n");
    assert_int_equal(p->diags.errors, 1);
    Diag *d = &p->diags.items.items[0];
    assert_string_equal(d->msg, "expected ')' to close '(' opened at 2:13");
    assert_int_equal(d->span.line, 2);
    /* Parsing went on: the function and the const after it are there. */
    assert_int_equal(p->m->items.len, 2);
    done(p);
}

static void test_two_typos_two_errors(void **state) {
    Parsed *p = parse("train t {\n"
                      "    data: d\n"
                      "    batch 12\n"
                      "    x = f(1 2)\n"
                      "    minimize x\n"
                      "}\n");
    assert_int_equal(p->diags.errors, 2);
    assert_int_equal(p->diags.items.items[0].span.line, 3);
    assert_int_equal(p->diags.items.items[1].span.line, 4);
    Item *t = p->m->items.items[0];
    assert_int_equal(t->body.items[t->body.len - 1]->kind, ST_MINIMIZE);
    done(p);
}

static void test_errors_in_items_resume_at_next_item(void **state) {
    Parsed *p = parse("fn f(x [B]) -> [B] = x\n"
                      "const A = 1\n"
                      "const = 2\n"
                      "const C = 3\n");
    assert_int_equal(p->diags.errors, 2);
    assert_int_equal(p->m->items.len, 2);
    assert_string_equal(p->m->items.items[1]->name, "C");
    done(p);
}

static void test_deep_nesting_is_an_error(void **state) {
    enum { N = 100000 };
    char *src = malloc(3 * N + 32);
    strcpy(src, "const A = ");
    size_t n = strlen(src);
    for (int i = 0; i < N; i++) src[n++] = '-';
    src[n++] = '1';
    src[n] = 0;
    Parsed *p = parse(src);
    assert_true(p->diags.errors >= 1);
    done(p);

    n = strlen("const A = ");
    for (int i = 0; i < N; i++) {
        src[n++] = '1';
        src[n++] = '+';
    }
    src[n++] = '1';
    src[n] = 0;
    p = parse(src);
    assert_int_equal(p->diags.errors, 1);
    assert_non_null(strstr(p->diags.items.items[0].msg, "nested too deeply"));
    done(p);

    n = strlen("const A = ");
    for (int i = 0; i < N; i++) src[n++] = '[';
    src[n] = 0;
    p = parse(src);
    assert_int_equal(p->diags.errors, 1);
    done(p);
    free(src);
}

/* xorshift: a fixed sequence, so a failure reproduces. */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static unsigned rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state >> 32);
}

/* Truncations and byte mutations of the sample never crash (ASan watches
 * memory), and the ones that are surely broken report an error: a cut inside
 * a `{ }` block, or a `$` put anywhere outside a string. */
static void test_truncations_and_mutations(void **state) {
    size_t len = strlen(sample);
    bool in_string[sizeof sample] = {0};
    int depth[sizeof sample] = {0};
    bool s = false;
    int dep = 0;
    for (size_t i = 0; i < len; i++) {
        if (sample[i] == '"') s = !s;
        in_string[i] = s || sample[i] == '"';
        if (!s && sample[i] == '{') dep++;
        if (!s && sample[i] == '}') dep--;
        depth[i] = dep;
    }
    for (size_t cut = 0; cut <= len; cut++) {
        Parsed *p = parse_n(sample, cut);
        if (cut > 0 && depth[cut - 1] > 0) assert_true(p->diags.errors >= 1);
        done(p);
    }
    char *buf = malloc(len + 1);
    for (int round = 0; round < 3000; round++) {
        memcpy(buf, sample, len + 1);
        int edits = 1 + (int)(rng() % 4);
        bool surely_broken = false;
        for (int k = 0; k < edits; k++) {
            size_t at = rng() % len;
            if (round % 2 == 0) {
                buf[at] = (char)(rng() & 0xff);
            } else if (!in_string[at]) {
                buf[at] = '$';
                surely_broken = true;
            }
        }
        Parsed *p = parse_n(buf, len);
        if (surely_broken) assert_true(p->diags.errors >= 1);
        done(p);
    }
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_construct),
        cmocka_unit_test(test_juxtaposed_statements),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_one_typo_one_error),
        cmocka_unit_test(test_two_typos_two_errors),
        cmocka_unit_test(test_errors_in_items_resume_at_next_item),
        cmocka_unit_test(test_deep_nesting_is_an_error),
        cmocka_unit_test(test_truncations_and_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
