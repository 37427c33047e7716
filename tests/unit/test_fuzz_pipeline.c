/* test_fuzz_pipeline.c — broken-but-parseable programs through the whole
 * compiler: the front end, lowering (with autodiff and simplify), fusion and,
 * for a sample, LLVM code generation.
 *
 * Every .rl text in examples/, stdlib/ and tests/golden/ is a seed. A
 * mutant is a seed with 1-3 structure-aware edits drawn from a fixed-seed
 * generator: tokens and lines swapped, duplicated or deleted; numbers replaced
 * by 0, -1, 1e9, 2.5, ...; identifiers replaced by other identifiers of the
 * same file; dims in types changed, added or dropped; `use` lines dropped;
 * two arguments of a call swapped; `.T`, `[:, 0:3]` or `@` inserted. Each is
 * written to a scratch folder (beside a link to tests/golden/inc, so relative
 * `use`s still resolve) and compiled in-process. It must either
 *   - fail with diagnostics, each error with a span inside its file whose
 *     line and column agree with its byte offset, none an "internal error"; or
 *   - lower cleanly (dataset properties = SMALL_DIMS, no data read) to graphs
 *     that pass ir_verify, plan with fuse_plan, and (every EMIT_EVERY-th
 *     mutant) emit a module that LLVM verifies.
 * An alarm bounds each mutant: a hang fails the test and names the mutant.
 *
 * Environment (for bug hunts; the default is the fixed regression set):
 *   RLC_FUZZ_CASES=N   mutants per seed file (default CASES, fewer under ASan)
 *   RLC_FUZZ_SEED=S    generator seed (default 1)
 *   RLC_FUZZ_EMIT_EVERY=N  cg_emit every N-th mutant (default EMIT_EVERY)
 *   RLC_FUZZ_ONLY=K    run only mutant number K and print it
 *   RLC_FUZZ_SAVE=DIR  campaign mode: each mutant in a child process; the ones
 *                      that crash, hang or break a rule are saved to DIR and
 *                      the run goes on. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"
#include "kernel.h"
#include "lower.h"
#include "sema.h"

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_SANITIZED 1
#endif
#endif

#ifdef FUZZ_SANITIZED
enum { CASES = 24, ALARM_S = 60 };
#else
enum { CASES = 60, ALARM_S = 20 };
#endif
enum { SMALL_DIMS = 6, BATCH = 4, EMIT_EVERY = 10 };

/* ------------------------------------------------------------------ text */

typedef struct Text {
    char *s;
    size_t len, cap;
} Text;

static void t_put(Text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        t->cap = 2 * (t->len + n + 1);
        t->s = realloc(t->s, t->cap);
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void t_puts(Text *t, const char *s) { t_put(t, s, strlen(s)); }

static uint64_t rng_state;
static uint64_t rnd(uint64_t n) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return n ? (rng_state >> 33) % n : 0;
}

/* ---------------------------------------------------------------- tokens */

typedef enum { TK_SPACE, TK_IDENT, TK_NUM, TK_STR, TK_PUNCT } TokKind;

typedef struct Tok {
    TokKind kind;
    const char *s;
    int len;
} Tok;

typedef struct Toks {
    Tok *items;
    int len, cap;
} Toks;

static void toks_push(Toks *v, Tok t) {
    if (v->len == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 256;
        v->items = realloc(v->items, sizeof(Tok) * (size_t)v->cap);
    }
    v->items[v->len++] = t;
}

static bool is_ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* The lexical shape of .rl (rl-language.md §2), loosely: enough to edit tokens. */
static Toks tokenize(const char *s, size_t n) {
    Toks v = {0};
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        TokKind k;
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '#') {
            while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r' || s[j] == '#')) {
                if (s[j] == '#')
                    while (j < n && s[j] != '\n') j++;
                else
                    j++;
            }
            k = TK_SPACE;
        } else if (is_ident_char(c) && !is_digit(c)) {
            while (j < n && is_ident_char(s[j])) j++;
            k = TK_IDENT;
        } else if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(s[i + 1]))) {
            while (j < n && (is_digit(s[j]) || s[j] == '.')) j++;
            if (j < n && (s[j] == 'e' || s[j] == 'E')) {
                j++;
                if (j < n && (s[j] == '+' || s[j] == '-')) j++;
                while (j < n && is_digit(s[j])) j++;
            }
            k = TK_NUM;
        } else if (c == '"') {
            j++;
            while (j < n && s[j] != '"' && s[j] != '\n') j += s[j] == '\\' && j + 1 < n ? 2 : 1;
            if (j < n && s[j] == '"') j++;
            k = TK_STR;
        } else {
            j++;
            if (n - i >= 3 && strncmp(s + i, "...", 3) == 0) j = i + 3;
            else if (n - i >= 2 && strncmp(s + i, "->", 2) == 0) j = i + 2;
            k = TK_PUNCT;
        }
        toks_push(&v, (Tok){k, s + i, (int)(j - i)});
        i = j;
    }
    return v;
}

static bool tok_is(const Tok *t, const char *s) {
    return t->len == (int)strlen(s) && strncmp(t->s, s, (size_t)t->len) == 0;
}

/* A random token of the given kind (any non-space kind when kind < 0); -1 if none. */
static int pick(const Toks *v, int kind) {
    int count = 0;
    for (int i = 0; i < v->len; i++)
        if (kind < 0 ? v->items[i].kind != TK_SPACE : (int)v->items[i].kind == kind) count++;
    if (!count) return -1;
    int k = (int)rnd((uint64_t)count);
    for (int i = 0; i < v->len; i++)
        if ((kind < 0 ? v->items[i].kind != TK_SPACE : (int)v->items[i].kind == kind) && k-- == 0) return i;
    return -1;
}

/* A random token that ends an operand: an identifier, a number or a closing `)`/`]`. */
static int pick_operand_end(const Toks *v) {
    for (int tries = 0; tries < 20; tries++) {
        int i = pick(v, -1);
        if (i < 0) return -1;
        const Tok *t = &v->items[i];
        if (t->kind == TK_IDENT || t->kind == TK_NUM || tok_is(t, ")") || tok_is(t, "]")) return i;
    }
    return -1;
}

/* The text of v with token `at` replaced by `with` (NULL: kept) and `ins`
 * inserted after it (NULL: nothing). */
static Text rebuild(const Toks *v, int at, const char *with, const char *ins) {
    Text t = {0};
    t_put(&t, "", 0);
    for (int i = 0; i < v->len; i++) {
        if (i == at && with) t_puts(&t, with);
        else t_put(&t, v->items[i].s, (size_t)v->items[i].len);
        if (i == at && ins) t_puts(&t, ins);
    }
    return t;
}

static char *tok_str(const Tok *t) {
    char *s = malloc((size_t)t->len + 1);
    memcpy(s, t->s, (size_t)t->len);
    s[t->len] = '\0';
    return s;
}

/* ----------------------------------------------------------------- lines */

typedef struct Lines {
    const char **start;
    size_t *len;     /* with its '\n' */
    int n;
} Lines;

static Lines split_lines(const char *s, size_t n) {
    Lines l = {0};
    int cap = 1;
    for (size_t i = 0; i < n; i++) cap += s[i] == '\n';
    l.start = malloc(sizeof(char *) * (size_t)cap);
    l.len = malloc(sizeof(size_t) * (size_t)cap);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '\n') j++;
        if (j < n) j++;
        l.start[l.n] = s + i;
        l.len[l.n++] = j - i;
        i = j;
    }
    return l;
}

static void put_line(Text *t, const Lines *l, int i) {
    t_put(t, l->start[i], l->len[i]);
    if (l->len[i] && l->start[i][l->len[i] - 1] != '\n') t_puts(t, "\n");
}

/* ------------------------------------------------------------- mutations */

/* Callees to swap in: the built-ins and the standard library's functions. */
static const char *const callees[] = {
    "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "max", "min", "where", "float", "sum", "mean",
    "logsumexp", "argmax", "reshape", "concat", "one_hot", "arange", "bernoulli", "normal", "uniform",
    "randint", "shift2d", "stop_gradient", "mse", "bce", "cross_entropy", "accuracy", "hidden_mse",
    "negative_sampling", "info_nce", "nt_xent", "clip_loss", "dense", "linear", "embedding", "layer_norm",
    "softmax", "log_softmax", "l2_normalize", "log_sigmoid", "softplus", "gelu", "leaky_relu", "mask",
    "add_noise", "mask_patches", "view", "two_views", "split_rows"};
static const char *const numbers[] = {"0", "-1", "1e9", "2.5", "1", "1000000000", "3", "-0.5", "1e-30"};
static const char *const dims[] = {"1", "2", "3", "0", "7", "1000000000", "B", "N", "D", "...", "2*B"};

/* One edit of `in`; the kind is chosen by the generator. The result may equal
 * the input when the edit found nothing to act on. */
static Text mutate(const Text *in) {
    Toks v = tokenize(in->s, in->len);
    Lines l = split_lines(in->s, in->len);
    Text out = {0};
    t_put(&out, "", 0);
    /* Weights favour the edits that keep a program parseable: the parser has
     * its own mutation test, and the later phases only see what parses. */
    static const int weight[17] = {1, 1, 1, 1, 4, 2, 2, 4, 1, 3, 2, 2, 2, 1, 1, 1, 3};
    int roll = (int)rnd(32), op = 0;
    while (op < 16 && roll >= weight[op]) roll -= weight[op++];
    int i = -1, j = -1;
    switch (op) {
    case 0: /* swap two nearby tokens */
        i = pick(&v, -1);
        j = i + (int)rnd(9) - 4;
        if (i >= 0 && j >= 0 && j < v.len) {
            Tok tmp = v.items[i];
            v.items[i] = v.items[j];
            v.items[j] = tmp;
        }
        free(out.s);
        out = rebuild(&v, -1, NULL, NULL);
        break;
    case 1: /* duplicate a token */
    case 2: /* delete a token */
        i = pick(&v, -1);
        free(out.s);
        if (i >= 0 && op == 1) {
            char *s = tok_str(&v.items[i]);
            Text ins = {0};
            t_puts(&ins, " ");
            t_puts(&ins, s);
            out = rebuild(&v, i, NULL, ins.s);
            free(ins.s);
            free(s);
        } else {
            out = rebuild(&v, i, i >= 0 ? "" : NULL, NULL);
        }
        break;
    case 3: /* delete, duplicate or swap lines */
        i = l.n ? (int)rnd((uint64_t)l.n) : -1;
        j = l.n ? (int)rnd((uint64_t)l.n) : -1;
        {
        int r = (int)rnd(3);
        for (int k = 0; k < l.n; k++) {
            if (k == i && r == 0) continue;                       /* delete */
            if (k == i && r == 1) put_line(&out, &l, k);          /* duplicate */
            put_line(&out, &l, k == i && r == 2 ? j : k == j && r == 2 ? i : k);
        }
        }
        break;
    case 4: /* replace a number */
        i = pick(&v, TK_NUM);
        free(out.s);
        out = rebuild(&v, i, i >= 0 ? numbers[rnd(sizeof numbers / sizeof *numbers)] : NULL, NULL);
        break;
    case 5:
    case 6: /* replace an identifier by another of the same file */
        i = pick(&v, TK_IDENT), j = pick(&v, TK_IDENT);
        free(out.s);
        if (i >= 0 && j >= 0) {
            char *s = tok_str(&v.items[j]);
            out = rebuild(&v, i, s, NULL);
            free(s);
        } else {
            out = rebuild(&v, -1, NULL, NULL);
        }
        break;
    case 7: { /* change, add or drop a dim inside a `[...]` */
        int tries = 0;
        do i = pick(&v, TK_PUNCT);
        while (i >= 0 && !tok_is(&v.items[i], "[") && ++tries < 40);
        free(out.s);
        if (i < 0 || !tok_is(&v.items[i], "[")) {
            out = rebuild(&v, -1, NULL, NULL);
            break;
        }
        int close = i + 1;
        while (close < v.len && !tok_is(&v.items[close], "]")) close++;
        int r = (int)rnd(3);
        const char *d = dims[rnd(sizeof dims / sizeof *dims)];
        if (r == 0) { /* add one in front */
            Text ins = {0};
            t_puts(&ins, d);
            t_puts(&ins, ", ");
            out = rebuild(&v, i, NULL, ins.s);
            free(ins.s);
            break;
        }
        int inner = -1;
        for (int k = i + 1; k < close && k < v.len; k++)
            if ((v.items[k].kind == TK_NUM || v.items[k].kind == TK_IDENT) && rnd(2)) inner = k;
        out = rebuild(&v, inner, inner >= 0 ? (r == 1 ? d : "") : NULL, NULL);
        break;
    }
    case 8: /* drop `use` lines: one or all */
        i = (int)rnd(2);
        for (int k = 0; k < l.n; k++) {
            bool use = l.len[k] >= 4 && strncmp(l.start[k], "use ", 4) == 0;
            if (use && (i == 0 || rnd(2))) continue;
            put_line(&out, &l, k);
        }
        break;
    case 9: { /* swap the first two arguments of a call */
        free(out.s);
        out = (Text){0};
        for (int tries = 0; tries < 20 && !out.s; tries++) {
            i = pick(&v, TK_PUNCT);
            if (i < 1 || !tok_is(&v.items[i], "(") || v.items[i - 1].kind != TK_IDENT) continue;
            int depth = 0, comma = -1, end = -1;
            for (int k = i + 1; k < v.len && end < 0; k++) {
                const Tok *t = &v.items[k];
                if (tok_is(t, "(") || tok_is(t, "[") || tok_is(t, "{")) depth++;
                else if (tok_is(t, ")") || tok_is(t, "]") || tok_is(t, "}")) {
                    if (depth == 0) end = k;
                    depth--;
                } else if (tok_is(t, ",") && depth == 0) {
                    if (comma < 0) comma = k;
                    else end = k;
                }
            }
            if (comma < 0 || end < 0) continue;
            out = (Text){0};
            t_put(&out, "", 0);
            for (int k = 0; k <= i; k++) t_put(&out, v.items[k].s, (size_t)v.items[k].len);
            for (int k = comma + 1; k < end; k++) t_put(&out, v.items[k].s, (size_t)v.items[k].len);
            t_puts(&out, ",");
            for (int k = i + 1; k < comma; k++) t_put(&out, v.items[k].s, (size_t)v.items[k].len);
            for (int k = end; k < v.len; k++) t_put(&out, v.items[k].s, (size_t)v.items[k].len);
        }
        if (!out.s) out = rebuild(&v, -1, NULL, NULL);
        break;
    }
    case 10: /* transpose an operand */
    case 11: /* slice an operand */
        i = pick_operand_end(&v);
        free(out.s);
        out = rebuild(&v, i, NULL, i >= 0 ? (op == 10 ? ".T" : "[:, 0:3]") : NULL);
        break;
    case 12: { /* a matmul: replace an operator, or multiply an operand by a name */
        free(out.s);
        i = pick(&v, TK_PUNCT);
        if (i >= 0 && (tok_is(&v.items[i], "+") || tok_is(&v.items[i], "*") || tok_is(&v.items[i], "-") ||
                       tok_is(&v.items[i], "/"))) {
            out = rebuild(&v, i, "@", NULL);
            break;
        }
        i = pick_operand_end(&v), j = pick(&v, TK_IDENT);
        char *s = j >= 0 ? tok_str(&v.items[j]) : NULL;
        Text ins = {0};
        t_puts(&ins, " @ ");
        t_puts(&ins, s ? s : "x");
        out = rebuild(&v, i, NULL, i >= 0 ? ins.s : NULL);
        free(ins.s);
        free(s);
        break;
    }
    case 13: { /* insert a fragment that is valid somewhere */
        static const char *const frags[] = {" B", " ...", " i32", ", ", " (", " )", " -", " return x",
                                            " param w: [3] = glorot\n", " [", " ]", " = ", " sum(x)",
                                            " minimize 1\n", " report r = 1\n", " x[0]", " mean(", "\n}\n"};
        i = pick(&v, -1);
        free(out.s);
        out = rebuild(&v, i, NULL, i >= 0 ? frags[rnd(sizeof frags / sizeof *frags)] : NULL);
        break;
    }
    case 14: /* truncate at a token */
        i = pick(&v, -1);
        for (int k = 0; k < v.len && k < i; k++) t_put(&out, v.items[k].s, (size_t)v.items[k].len);
        break;
    case 16: /* call another built-in or library function */
        free(out.s);
        for (int tries = 0; tries < 20; tries++) {
            i = pick(&v, TK_IDENT);
            if (i >= 0 && i + 1 < v.len && tok_is(&v.items[i + 1], "(")) break;
            i = -1;
        }
        out = rebuild(&v, i, i >= 0 ? callees[rnd(sizeof callees / sizeof *callees)] : NULL, NULL);
        break;
    case 15: /* swap two lines */
        i = l.n ? (int)rnd((uint64_t)l.n) : -1;
        j = l.n ? (int)rnd((uint64_t)l.n) : -1;
        for (int k = 0; k < l.n; k++) put_line(&out, &l, k == i ? j : k == j ? i : k);
        break;
    }
    free(v.items);
    free(l.start);
    free(l.len);
    return out;
}

/* ------------------------------------------------------------------ seeds */

typedef struct Seed {
    char *name;
    Text text;
} Seed;

static Seed seeds[512];
static int n_seeds;
/* Mutant k starts from seeds[order[k % n_order]]: the seeds that compile get
 * CLEAN_WEIGHT turns each, since their mutants are the ones that reach lowering
 * and the back end. */
enum { CLEAN_WEIGHT = 4 };
static int order[512 * CLEAN_WEIGHT];
static int n_order;

static void load_dir(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    char *names[256];
    int n = 0;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".rl") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    /* readdir's order is the file system's: sort, so a seed numbers the same mutants everywhere */
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
            char *t = names[b];
            names[b] = names[b - 1];
            names[b - 1] = t;
        }
    for (int k = 0; k < n && n_seeds < 512; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        Seed *s = &seeds[n_seeds++];
        s->name = strdup(path);
        s->text = (Text){0};
        t_put(&s->text, "", 0);
        char buf[4096];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, f)) > 0) t_put(&s->text, buf, got);
        fclose(f);
        free(names[k]);
    }
}

/* ----------------------------------------------------------------- checks */

typedef struct Stats {
    int mutants, front_ok, lowered, planned, emitted, unplanned;
} Stats;

static char failure[2048];   /* what the current mutant broke, "" when nothing */

static void fail_with(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_with(const char *fmt, ...) {
    if (failure[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failure, sizeof failure, fmt, ap);
    va_end(ap);
}

/* Every error has a span inside its file whose line and column agree with its
 * offset; no message admits an internal error. */
static void check_diags(const Diags *d) {
    for (int i = 0; i < d->items.len; i++) {
        const Diag *g = &d->items.items[i];
        if (strstr(g->msg, "internal error")) fail_with("%s", g->msg);
        const SrcFile *f = g->span.file;
        if (!f) {
            if (g->level == DIAG_ERROR) fail_with("error without a span: %s", g->msg);
            continue;
        }
        const Span *s = &g->span;
        if (s->off < 0 || s->len < 0 || (size_t)s->off + (size_t)s->len > f->len) {
            fail_with("span %d+%d outside %s (%zu bytes): %s", s->off, s->len, f->path, f->len, g->msg);
            continue;
        }
        int line = 1, col = 1;
        for (int k = 0; k < s->off; k++) {
            if (f->text[k] == '\n') line++, col = 1;
            else col++;
        }
        if (s->line != line || s->col != col)
            fail_with("span says %d:%d, offset %d is %d:%d: %s", s->line, s->col, s->off, line, col, g->msg);
    }
}

static void check_graph(const IrGraph *g, const char *what) {
    if (!g) return;
    StrBuf why = {0};
    if (!ir_verify(g, &why)) fail_with("%s of `%s` does not verify: %s", what, g->name, why.data ? why.data : "");
    sb_free(&why);
}

static void run_one(const char *path, bool emit, Stats *st) {
    Compilation c;
    driver_init(&c);
    st->mutants++;
    bool ok = driver_front(&c, path);
    check_diags(&c.diags);
    if (ok) {
        st->front_ok++;
        LowerOptions o = {.small_dims = SMALL_DIMS, .batch = BATCH};
        IrProgram *ir = lower_program(&c.program, &c.diags, &o);
        check_diags(&c.diags);
        if (!ir && c.diags.errors == 0) fail_with("lowering failed without an error");
        for (int i = 0; ir && i < ir->stages.len; i++) {
            const IrStage *s = &ir->stages.items[i];
            check_graph(s->forward, "the forward graph");
            check_graph(s->raw, "the differentiated graph");
            check_graph(s->graph, "the simplified graph");
            StrBuf why = {0};
            KernelPlan *plan = fuse_plan(&c.arena, s->graph, &why);
            if (!plan) {
                /* a limit of the back end, said in words: counted, not a failure */
                st->unplanned++;
                sb_free(&why);
                continue;
            }
            st->planned++;
            if (emit) {
                LLVMContextRef ctx = LLVMContextCreate();
                LLVMModuleRef m = cg_emit(plan, ctx, "step", &why);
                if (!m) fail_with("cg_emit of `%s`: %s", s->name, why.data ? why.data : "");
                else {
                    st->emitted++;
                    LLVMDisposeModule(m);
                }
                LLVMContextDispose(ctx);
            }
            sb_free(&why);
        }
        if (ir) st->lowered++;
    }
    driver_free(&c);
}

/* -------------------------------------------------------------- the driver */

static char scratch[256];
static char mutant_path[300];
static volatile sig_atomic_t current_case;

/* Only async-signal-safe calls here: the number is formatted by hand. */
static void on_alarm(int sig) {
    (void)sig;
    char msg[160] = "test_fuzz_pipeline: a mutant ran past its time bound (a hang); RLC_FUZZ_ONLY=";
    size_t n = strlen(msg);
    char digits[24];
    int nd = 0;
    long v = (long)current_case;
    do digits[nd++] = (char)('0' + v % 10), v /= 10;
    while (v && nd < 20);
    while (nd) msg[n++] = digits[--nd];
    msg[n++] = '\n';
    ssize_t w = write(2, msg, n);
    (void)w;
    _exit(1);
}

static uint64_t env_u64(const char *name, uint64_t dflt) {
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : dflt;
}

static void write_file(const char *path, const Text *t) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(t->s, 1, t->len, f);
    fclose(f);
}

/* The mutant number k of the campaign (seed file k % n_seeds). */
static Text make_mutant(uint64_t seed, uint64_t k) {
    rng_state = seed * 0x9E3779B97F4A7C15ull + k * 0xD1B54A32D192ED03ull + 1;
    rnd(1);
    const Seed *s = &seeds[order[k % (uint64_t)n_order]];
    Text t = {0};
    t_put(&t, s->text.s, s->text.len);
    int r = (int)rnd(10), edits = r < 5 ? 1 : r < 8 ? 2 : 3;
    for (int e = 0; e < edits; e++) {
        Text next = mutate(&t);
        free(t.s);
        t = next;
    }
    return t;
}

static void save_failure(const char *dir, uint64_t k, const Text *t, const char *why) {
    char path[600];
    snprintf(path, sizeof path, "%s/case%06llu.rl", dir, (unsigned long long)k);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fprintf(f, "# %s\n", why);
    fwrite(t->s, 1, t->len, f);
    fclose(f);
}

static void test_mutants(void **state) {
    (void)state;
    n_seeds = 0;
    load_dir(RLC_SOURCE_DIR "/examples");
    load_dir(RLC_SOURCE_DIR "/stdlib");
    load_dir(RLC_SOURCE_DIR "/tests/golden");
    assert_true(n_seeds > 100);
    n_order = 0;
    int clean = 0;
    for (int i = 0; i < n_seeds; i++) {
        Compilation c;
        driver_init(&c);
        bool ok = driver_front(&c, seeds[i].name);
        driver_free(&c);
        clean += ok;
        for (int w = 0; w < (ok ? CLEAN_WEIGHT : 1); w++) order[n_order++] = i;
    }
    assert_true(clean >= 10);

    snprintf(scratch, sizeof scratch, "/tmp/rlc_fuzz_XXXXXX");
    assert_non_null(mkdtemp(scratch));
    char link[300];
    snprintf(link, sizeof link, "%s/inc", scratch);
    assert_int_equal(symlink(RLC_SOURCE_DIR "/tests/golden/inc", link), 0);
    snprintf(mutant_path, sizeof mutant_path, "%s/mutant.rl", scratch);

    uint64_t seed = env_u64("RLC_FUZZ_SEED", 1);
    uint64_t per_seed = env_u64("RLC_FUZZ_CASES", CASES);
    const char *only = getenv("RLC_FUZZ_ONLY");
    uint64_t total = only ? strtoull(only, NULL, 10) + 1 : per_seed * (uint64_t)n_order;
    const char *save = getenv("RLC_FUZZ_SAVE");
    uint64_t emit_every = env_u64("RLC_FUZZ_EMIT_EVERY", EMIT_EVERY);
    if (!emit_every) emit_every = 1;
    signal(SIGALRM, on_alarm);

    Stats st = {0};
    int failures = 0;
    for (uint64_t k = only ? strtoull(only, NULL, 10) : 0; k < total; k++) {
        current_case = (sig_atomic_t)k;
        Text t = make_mutant(seed, k);
        write_file(mutant_path, &t);
        bool emit = k % emit_every == 0 || only;
        failure[0] = '\0';
        if (only) {
            fprintf(stderr, "--- mutant %llu of %s:\n%s\n---\n", (unsigned long long)k,
                    seeds[order[k % (uint64_t)n_order]].name, t.s);
            alarm(ALARM_S);
            run_one(mutant_path, emit, &st);
            alarm(0);
            Compilation c;
            driver_init(&c);
            LowerOptions o = {.small_dims = SMALL_DIMS, .batch = BATCH};
            if (driver_front(&c, mutant_path)) lower_program(&c.program, &c.diags, &o);
            diag_print(&c.diags, stderr);
            driver_free(&c);
            if (failure[0]) {
                fprintf(stderr, "FAILED: %s\n", failure);
                failures++;
            }
        } else if (save) {
            int fds[2];
            assert_int_equal(pipe(fds), 0);
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                close(fds[0]);
                alarm(ALARM_S);
                Stats cs = {0};
                run_one(mutant_path, emit, &cs);
                ssize_t w = write(fds[1], &cs, sizeof cs);
                w = write(fds[1], failure, strlen(failure));
                (void)w;
                _exit(0);
            }
            close(fds[1]);
            Stats cs = {0};
            char msg[sizeof failure] = "";
            ssize_t got = read(fds[0], &cs, sizeof cs);
            if (got == (ssize_t)sizeof cs) {
                ssize_t m = read(fds[0], msg, sizeof msg - 1);
                msg[m > 0 ? m : 0] = '\0';
            }
            close(fds[0]);
            int status = 0;
            waitpid(pid, &status, 0);
            if (got == (ssize_t)sizeof cs) {
                st.mutants += cs.mutants, st.front_ok += cs.front_ok, st.lowered += cs.lowered;
                st.planned += cs.planned, st.emitted += cs.emitted, st.unplanned += cs.unplanned;
            }
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || msg[0]) {
                char why[sizeof failure + 64];
                if (msg[0]) snprintf(why, sizeof why, "%s", msg);
                else if (WIFSIGNALED(status)) snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(status));
                else snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
                for (char *p = why; *p; p++)
                    if (*p == '\n') *p = ' ';
                fprintf(stderr, "case %llu (%s): %s\n", (unsigned long long)k,
                        seeds[order[k % (uint64_t)n_order]].name, why);
                save_failure(save, k, &t, why);
                failures++;
            }
        } else {
            alarm(ALARM_S);
            run_one(mutant_path, emit, &st);
            alarm(0);
            if (failure[0]) {
                fprintf(stderr, "case %llu (mutant of %s; RLC_FUZZ_ONLY=%llu shows it): %s\n",
                        (unsigned long long)k, seeds[order[k % (uint64_t)n_order]].name, (unsigned long long)k,
                        failure);
                failures++;
            }
        }
        free(t.s);
        if (only) break;
    }
    fprintf(stderr,
            "fuzz: %d mutants (seed %llu): %d through the front end, %d lowered, %d graphs planned "
            "(%d not plannable), %d emitted; %d failures\n",
            st.mutants, (unsigned long long)seed, st.front_ok, st.lowered, st.planned, st.unplanned,
            st.emitted, failures);
    unlink(mutant_path);
    unlink(link);
    rmdir(scratch);
    for (int i = 0; i < n_seeds; i++) {
        free(seeds[i].name);
        free(seeds[i].text.s);
    }
    assert_int_equal(failures, 0);
    if (!only) assert_true(st.front_ok > 0 && st.lowered > 0 && st.emitted > 0);
}

/* ---------------------------------------------------------- hostile files */

/* The front end on path: the number of errors; the first message contains
 * `want` (when not NULL), and every diagnostic passes check_diags, except that
 * a main file that cannot be read has no place in it to point at. */
static int front_errors(const char *path, const char *want) {
    Compilation c;
    driver_init(&c);
    failure[0] = '\0';
    bool parsed = driver_parse(&c, path), read = c.program.modules.len > 0;
    if (parsed) sema_run(&c.program);
    check_diags(&c.diags);
    if (failure[0] && (read || !strstr(failure, "error without a span"))) fail_msg("%s: %s", path, failure);
    if (want) {
        assert_true(c.diags.items.len > 0);
        if (!strstr(c.diags.items.items[0].msg, want))
            fail_msg("%s: expected \"%s\" in: %s", path, want, c.diags.items.items[0].msg);
    }
    int errors = c.diags.errors;
    driver_free(&c);
    return errors;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Files no one would write on purpose: each is an error with a place, or clean. */
static void test_hostile_files(void **state) {
    (void)state;
    char dir[] = "/tmp/rlc_hostile_XXXXXX", path[300];
    assert_non_null(mkdtemp(dir));

    snprintf(path, sizeof path, "%s/empty.rl", dir);
    write_bytes(path, "", 0);
    assert_int_equal(front_errors(path, NULL), 0);

    snprintf(path, sizeof path, "%s/folder.rl", dir);   /* a directory opens but does not read */
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(front_errors(path, "Is a directory"), 1);
    char use[300];
    snprintf(use, sizeof use, "%s/use_folder.rl", dir);
    write_bytes(use, "use \"folder.rl\"\n", 15);
    assert_int_equal(front_errors(use, "Is a directory"), 1);
    rmdir(path);

    size_t big = (1u << 20) + 1;                          /* past AST_MAX_SOURCE */
    char *bytes = calloc(big, 1);
    memset(bytes, '#', big);
    snprintf(path, sizeof path, "%s/big.rl", dir);
    write_bytes(path, bytes, big);
    assert_int_equal(front_errors(path, "too large to compile"), 1);
    assert_int_equal(front_errors("/dev/zero", "too large to compile"), 1);

    snprintf(path, sizeof path, "%s/nul.rl", dir);        /* NUL bytes, then binary noise */
    memset(bytes, 0, 4096);
    write_bytes(path, bytes, 4096);
    assert_true(front_errors(path, "unexpected byte 0x00") >= 1);
    rng_state = 42;
    for (size_t i = 0; i < 65536; i++) bytes[i] = (char)rnd(256);
    write_bytes(path, bytes, 65536);
    assert_true(front_errors(path, NULL) >= 1);

    snprintf(path, sizeof path, "%s/deep.rl", dir);       /* brackets nested 100000 deep */
    size_t n = 0;
    n += (size_t)sprintf(bytes, "fn f(x: [N]) -> [N] = ");
    for (int i = 0; i < 100000; i++) bytes[n++] = '(';
    bytes[n++] = 'x';
    for (int i = 0; i < 100000; i++) bytes[n++] = ')';
    write_bytes(path, bytes, n);
    assert_true(front_errors(path, "nested too deeply") >= 1);

    snprintf(path, sizeof path, "%s/self.rl", dir);       /* a file that uses itself: one module */
    write_bytes(path, "use \"self.rl\"\nconst A = 1\nconst C = A\n", 38);
    assert_int_equal(front_errors(path, NULL), 0);

    free(bytes);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_mutants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
