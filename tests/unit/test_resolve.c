/* test_resolve.c — name binding, const folding, module loading and the types
 * check gives, on small programs parsed from strings and temporary files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sema.h"

typedef struct Fixture {
    Arena arena;
    Diags diags;
    Program prog;
} Fixture;

static Fixture *fx_new(void) {
    Fixture *f = calloc(1, sizeof *f);
    f->diags.arena = &f->arena;
    f->prog.arena = &f->arena;
    f->prog.diags = &f->diags;
    return f;
}

static void fx_free(Fixture *f) {
    arena_free(&f->arena);
    free(f);
}

/* Parses `text` as the main module at `path` (a real file is not needed unless it uses files). */
static Module *parse(Fixture *f, const char *path, const char *text) {
    SrcFile *src = arena_alloc(&f->arena, sizeof *src);
    src->path = arena_strdup(&f->arena, path);
    src->text = arena_strdup(&f->arena, text);
    src->len = strlen(text);
    Module *m = ast_parse_file(&f->arena, &f->diags, src, "main");
    vec_push(&f->arena, &f->prog.modules, m);
    return m;
}

static Item *item(Module *m, const char *name) {
    for (int i = 0; i < m->items.len; i++)
        if (m->items.items[i]->name && strcmp(m->items.items[i]->name, name) == 0) return m->items.items[i];
    return NULL;
}

static void write_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_refs_and_slots(void **state) {
    (void)state;
    Fixture *f = fx_new();
    Module *m = parse(f, "t.rl",
                      "const K = 2 * 3 + 1\n"
                      "fn g(x: [B, D], n: int, keep = 0.5) -> [B, D] {\n"
                      "    h = x * keep\n"
                      "    h = h + K\n"
                      "    return h + float(arange(n))[0]\n"
                      "}\n");
    assert_int_equal(f->diags.errors, 0);
    assert_true(sema_run(&f->prog));
    Item *k = item(m, "K");
    assert_true(fabs(k->const_value - 7) < 1e-12);
    Item *g = item(m, "g");
    /* dims: the int argument and the hyper first (a hyper may be a dim of the signature),
     * then size variables in order of appearance */
    assert_int_equal(g->dim_names.len, 4);
    assert_string_equal(g->dim_names.items[0], "n");
    assert_string_equal(g->dim_names.items[1], "keep");
    assert_string_equal(g->dim_names.items[2], "B");
    assert_string_equal(g->dim_names.items[3], "D");
    assert_int_equal(g->n_locals, 2);
    Stmt *s0 = g->body.items[0], *s1 = g->body.items[1];
    assert_int_equal(s0->slot, 0);
    assert_int_equal(s1->slot, 1);
    /* `h + K` in the second binding reads the first h (slot 0) and the const */
    Expr *v = s1->value;
    assert_int_equal(v->lhs->ref, REF_LOCAL);
    assert_int_equal(v->lhs->slot, 0);
    assert_int_equal(v->rhs->ref, REF_CONST);
    assert_ptr_equal(v->rhs->item, k);
    /* x is an argument, keep a hyper argument (slot = its index) */
    assert_int_equal(s0->value->lhs->ref, REF_ARG);
    assert_int_equal(s0->value->lhs->slot, 0);
    assert_int_equal(s0->value->rhs->ref, REF_ARG);
    assert_int_equal(s0->value->rhs->slot, 2);
    /* `arange(n)`: a builtin, and n an int argument used as an integer */
    Stmt *ret = g->body.items[2];
    Expr *call = ret->value->rhs->lhs->args.items[0].value;   /* arange(n) */
    assert_int_equal(call->callee->ref, REF_BUILTIN);
    assert_int_equal(call->callee->builtin->id, BI_ARANGE);
    assert_int_equal(call->args.items[0].value->ref, REF_DIM);
    assert_int_equal(call->args.items[0].value->slot, 0);
    assert_string_equal(type_str(&f->arena, call->type), "i32[n]");
    fx_free(f);
}

static void test_call_binds_dims(void **state) {
    (void)state;
    Fixture *f = fx_new();
    Module *m = parse(f, "t.rl",
                      "layer dense(x: [..., I], n: int) -> [..., n] {\n"
                      "    param w: [I, n] = glorot\n"
                      "    return x @ w\n"
                      "}\n"
                      "encoder enc(x: [B, 784]) -> [B, 32] = dense(x, 32)\n"
                      "fn h(x: [B, 2*Z], keep = 0.25) -> [B, Z] = x[:, 0:Z] * keep\n"
                      "fn k(y: [7, 10]) -> [7, 5] = h(y, keep = 0.5)\n");
    assert_true(sema_run(&f->prog));
    Expr *call = item(m, "enc")->body.items[0]->value;
    assert_string_equal(type_str(&f->arena, call->type), "[B, 32]");
    const CallInfo *ci = sema_call_info(call);
    assert_non_null(ci);
    assert_int_equal(ci->ell_rank, 1);
    Item *dense = item(m, "dense");
    const Dim *i = dim_env_get(&ci->dims, sema_dim_sym(dense, 1));   /* I */
    assert_non_null(i);
    long v;
    assert_true(dim_is_const(i, &v));
    assert_int_equal(v, 784);
    /* Z solved from 2*Z = 10; the hyper's value at this call */
    Expr *hc = item(m, "k")->body.items[0]->value;
    assert_string_equal(type_str(&f->arena, hc->type), "[7, 5]");
    assert_true(fabs(sema_call_info(hc)->hypers.items[1] - 0.5) < 1e-12);
    assert_true(isnan(sema_call_info(hc)->hypers.items[0]));
    fx_free(f);
}

static void test_stage_fields(void **state) {
    (void)state;
    Fixture *f = fx_new();
    Module *m = parse(f, "t.rl",
                      "dataset d {\n"
                      "    x: [28, 28] = idx(\"a.gz\") / 255\n"
                      "    y: i32 = idx(\"b.gz\")\n"
                      "}\n"
                      "eval e {\n"
                      "    data: d\n"
                      "    z = reshape(x, [B, 784])\n"
                      "    report m = mean(z) + mean(float(y))\n"
                      "}\n");
    assert_true(sema_run(&f->prog));
    Item *e = item(m, "e");
    assert_ptr_equal(e->data, item(m, "d"));
    Stmt *s = e->body.items[1];
    Expr *x = s->value->args.items[0].value;
    assert_int_equal(x->ref, REF_FIELD);
    assert_int_equal(x->slot, 0);
    assert_string_equal(type_str(&f->arena, x->type), "[B, 28, 28]");
    assert_int_equal(s->value->args.items[1].value->args.items[0].value->ref, REF_BATCH);
    const Type *ft = NULL;
    assert_int_equal(sema_dataset_nfields(e->data), 2);
    assert_string_equal(sema_dataset_field(e->data, 1, &ft), "y");
    assert_string_equal(type_str(&f->arena, ft), "i32[]");
    fx_free(f);
}

static void test_source_fields(void **state) {
    (void)state;
    Fixture *f = fx_new();
    Module *m = parse(f, "t.rl",
                      "dataset w = skipgram(text(\"c/\"), window = 3, negatives = 7)\n"
                      "dataset t = csv(\"p.csv\", columns = 5)\n");
    assert_true(sema_run(&f->prog));
    const Type *ty = NULL;
    assert_int_equal(sema_dataset_nfields(item(m, "w")), 3);
    assert_string_equal(sema_dataset_field(item(m, "w"), 2, &ty), "negatives");
    assert_string_equal(type_str(&f->arena, ty), "i32[7]");
    assert_string_equal(sema_dataset_field(item(m, "t"), 0, &ty), "x");
    assert_string_equal(type_str(&f->arena, ty), "[5]");
    fx_free(f);
}

static void test_errors_reported(void **state) {
    (void)state;
    Fixture *f = fx_new();
    parse(f, "t.rl",
          "fn a(x: [N]) -> [N] = b(x)\n"
          "fn b(x: [N]) -> [N] = a(x)\n"
          "fn c(x: [N]) -> [N] = sigmod(x)\n");
    assert_false(sema_run(&f->prog));
    assert_int_equal(f->diags.errors, 2);
    bool saw_cycle = false, saw_hint = false;
    for (int i = 0; i < f->diags.items.len; i++) {
        const char *msg = f->diags.items.items[i].msg;
        saw_cycle |= strstr(msg, "`a` calls `b` calls `a`") != NULL;
        saw_hint |= strstr(msg, "did you mean `sigmoid`?") != NULL;
    }
    assert_true(saw_cycle);
    assert_true(saw_hint);
    fx_free(f);
}

/* Two files that use each other load once each; RL_STDLIB_PATH comes first. */
static void test_modules(void **state) {
    (void)state;
    char dir[] = "/tmp/rlc_resolve_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[256], b[256], std[256], stdnn[256];
    snprintf(a, sizeof a, "%s/a.rl", dir);
    snprintf(b, sizeof b, "%s/b.rl", dir);
    snprintf(std, sizeof std, "%s/std", dir);
    snprintf(stdnn, sizeof stdnn, "%s/std/nn.rl", dir);
    write_file(b, "use \"a.rl\"\nfn twice(x: [...]) -> [...] = once(once(x))\n");
    write_file(a, "use \"b.rl\"\nfn once(x: [...]) -> [...] = 2 * x\n");
    assert_int_equal(mkdir(std, 0700), 0);
    write_file(stdnn, "fn special(x: [...]) -> [...] = x\n");
    setenv("RL_STDLIB_PATH", std, 1);

    Fixture *f = fx_new();
    char main_path[256];
    snprintf(main_path, sizeof main_path, "%s/main.rl", dir);
    Module *m = parse(f, main_path,
                      "use \"a.rl\"\nuse \"b.rl\" as B2\nuse std.nn\n"
                      "fn f(x: [3]) -> [3] = B2.twice(once(special(x)))\n");
    assert_true(sema_run(&f->prog));
    assert_int_equal(f->prog.modules.len, 4);   /* main, a, b, std.nn: each once */
    Expr *call = item(m, "f")->body.items[0]->value;
    assert_int_equal(call->callee->ref, REF_FUNC);
    assert_string_equal(call->callee->item->name, "twice");
    assert_string_equal(type_str(&f->arena, call->type), "[3]");
    fx_free(f);
    unsetenv("RL_STDLIB_PATH");
    unlink(a);
    unlink(b);
    unlink(stdnn);
    rmdir(std);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refs_and_slots), cmocka_unit_test(test_call_binds_dims),
        cmocka_unit_test(test_stage_fields),   cmocka_unit_test(test_errors_reported),
        cmocka_unit_test(test_modules),        cmocka_unit_test(test_source_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
