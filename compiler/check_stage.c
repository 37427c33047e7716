/* check_stage.c — stage settings (rl-language.md §6) and dataset fields and
 * properties (§4.1). */
#include "check_impl.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- stages */

typedef struct SettingSpec {
    const char *name;
    bool train_only;
} SettingSpec;

static const SettingSpec settings[] = {
    {"data", false}, {"batch", false}, {"load", false}, {"limit", false},
    {"epochs", true}, {"steps", true}, {"optimizer", true}, {"schedule", true},
    {"seed", true}, {"freeze", true}, {"save", true}, {"save_every", true}, {"validate", true},
    {"show", false}, {"show_width", false}, {"show_count", false}, {"codes", false},
    {"labels", false}, {"vectors", false}, {"embedding", false}, {"neighbours", false},
    {"clip_grad_norm", true}, {"sample", false}, {"prompt", false}, {"sample_tokens", false},
    {"sample_count", false}, {"temperature", false}, {"top_k", false},
};

/* The values an optimizer or schedule argument may take: one outside them
 * trains on nonsense (a negative rate climbs the loss, momentum past 1 or a
 * negative one diverges, beta >= 1 never forgets). */
typedef struct ArgDomain {
    const char *name;
    double lo, hi;
    bool lo_open, hi_open, integer;
    const char *says;
} ArgDomain;

static const ArgDomain arg_domains[] = {
    {"lr", 0, INFINITY, true, true, false, "a positive number"},
    {"momentum", 0, 1, false, true, false, "in [0, 1)"},
    {"beta1", 0, 1, false, true, false, "in [0, 1)"},
    {"beta2", 0, 1, false, true, false, "in [0, 1)"},
    {"eps", 0, INFINITY, true, true, false, "a positive number"},
    {"weight_decay", 0, INFINITY, false, true, false, "0 or more"},
};

static void check_arg_domain(Checker *c, const char *name, const Expr *value, double v) {
    for (size_t i = 0; i < sizeof arg_domains / sizeof *arg_domains; i++) {
        const ArgDomain *d = &arg_domains[i];
        if (strcmp(d->name, name) != 0) continue;
        bool ok = isfinite(v) && (d->lo_open ? v > d->lo : v >= d->lo) && (d->hi_open ? v < d->hi : v <= d->hi) &&
                  (!d->integer || v == floor(v));
        if (!ok) diag_error(c->d, value->span, "`%s` must be %s, not %g", name, d->says, v);
    }
}

/* A call-like setting value: `adam(lr = 1e-3)` or a bare `constant`. */
static void check_named_call(Checker *c, Expr *v, const char *what, const char *const *names,
                             const char *const *const *args, int nnames, const char *required) {
    Expr *callee = v->kind == EX_CALL ? v->callee : v;
    if (callee->kind != EX_NAME) {
        diag_error(c->d, v->span, "expected %s", what);
        return;
    }
    int which = -1;
    for (int i = 0; i < nnames; i++)
        if (strcmp(callee->str, names[i]) == 0) which = i;
    if (which < 0) {
        diag_error(c->d, callee->span, "unknown %s `%s`", what, callee->str);
        return;
    }
    if (v->kind != EX_CALL) {
        if (required && which < 3 && strcmp(what, "optimizer") == 0)
            diag_error(c->d, v->span, "optimizer `%s` needs a learning rate: %s(lr = ...)", callee->str, callee->str);
        return;
    }
    const char *const *allowed = args[which];
    bool has_req = false;
    for (int i = 0; i < v->args.len; i++) {
        Arg *ar = &v->args.items[i];
        const char *nm = ar->name;
        if (!nm) {
            if (i == 0 && allowed[0]) nm = allowed[0];
            else {
                diag_error(c->d, ar->span, "name the arguments of `%s` (name = value)", callee->str);
                continue;
            }
        }
        bool ok = false;
        for (int k = 0; allowed[k]; k++) ok |= strcmp(allowed[k], nm) == 0;
        if (!ok) {
            diag_error(c->d, ar->span, "`%s` has no argument `%s`", callee->str, nm);
            continue;
        }
        if (required && strcmp(nm, required) == 0) has_req = true;
        Type *t = check_expr(c, ar->value);
        if (t->kind != TY_ERROR && !t->has_value)
            diag_error(c->d, ar->value->span, "`%s` must be a compile-time number", nm);
        else if (t->kind != TY_ERROR)
            check_arg_domain(c, nm, ar->value, t->value);
    }
    if (required && !has_req && strcmp(what, "optimizer") == 0)
        diag_error(c->d, v->span, "optimizer `%s` needs a learning rate: %s(lr = ...)", callee->str, callee->str);
}

/* A schedule's `warmup` is a whole number of steps, `to` a fraction of the peak
 * rate in [0, 1]. */
static void check_schedule_values(Checker *c, Expr *v) {
    if (v->kind != EX_CALL) return;
    for (int i = 0; i < v->args.len; i++) {
        Arg *ar = &v->args.items[i];
        const Type *t = ar->value->type;
        if (!ar->name || !t || !t->has_value) continue;
        if (!strcmp(ar->name, "warmup") && (t->value < 0 || t->value != floor(t->value)))
            diag_error(c->d, ar->value->span, "`warmup` is a number of steps (an integer >= 0), not %s",
                       span_text(c, ar->value->span));
        if (!strcmp(ar->name, "to") && !(t->value >= 0 && t->value <= 1))
            diag_error(c->d, ar->value->span, "`to` is a fraction of the peak learning rate, in [0, 1], not %s",
                       span_text(c, ar->value->span));
    }
}

/* A warm-up longer than a run of `steps` steps never reaches the peak rate. */
static void check_warmup_fits(Checker *c, const Stmt *schedule, const Stmt *steps) {
    if (!schedule || !steps || schedule->value->kind != EX_CALL) return;
    long n;
    if (!steps->value->type || !is_int_value(steps->value->type, &n)) return;
    for (int i = 0; i < schedule->value->args.len; i++) {
        Arg *ar = &schedule->value->args.items[i];
        const Type *t = ar->value->type;
        if (ar->name && !strcmp(ar->name, "warmup") && t && t->has_value && t->value > (double)n) {
            diag_error(c->d, ar->value->span, "a warm-up of %s steps is longer than the run (`steps: %ld`)",
                       span_text(c, ar->value->span), n);
            diag_note(c->d, steps->span, "`steps` given here");
        }
    }
}

/* The statement that gave setting `name`, or NULL (seen[] follows settings[]). */
static Stmt *setting_seen(Stmt *const *seen, const char *name) {
    for (size_t j = 0; j < sizeof settings / sizeof *settings; j++)
        if (!strcmp(settings[j].name, name)) return seen[j];
    return NULL;
}

static void check_settings(Checker *c, Item *st) {
    Stmt *seen[sizeof settings / sizeof *settings] = {0};
    bool train = st->stage_kind == STAGE_TRAIN;
    for (int i = 0; i < st->body.len; i++) {
        Stmt *s = st->body.items[i];
        if (s->kind != ST_SETTING) continue;
        const char *name = s->names.items[0];
        Span at = s->name_spans.len ? s->name_spans.items[0] : s->span;
        int k = -1;
        for (int j = 0; j < (int)(sizeof settings / sizeof *settings); j++)
            if (strcmp(settings[j].name, name) == 0 && (train || !settings[j].train_only)) k = j;
        if (k < 0) {
            const char *best = NULL;
            int bd = 3;
            for (int j = 0; j < (int)(sizeof settings / sizeof *settings); j++) {
                if (!train && settings[j].train_only) continue;
                int d = sema_edit_distance(name, settings[j].name, 2);
                if (d < bd) {
                    bd = d;
                    best = settings[j].name;
                }
            }
            if (best)
                diag_error(c->d, at, "unknown setting `%s` for %s stage; did you mean `%s`?", name,
                           train ? "a train" : "an eval", best);
            else
                diag_error(c->d, at, "unknown setting `%s` for %s stage", name, train ? "a train" : "an eval");
            continue;
        }
        if (seen[k]) {
            diag_error(c->d, at, "setting `%s` is given twice", name);
            diag_note(c->d, seen[k]->span, "first given here");
            continue;
        }
        seen[k] = s;
        Expr *v = s->value;
        if (!strcmp(name, "batch") || !strcmp(name, "epochs") || !strcmp(name, "steps") ||
            !strcmp(name, "limit") || !strcmp(name, "seed") || !strcmp(name, "show_width") ||
            !strcmp(name, "show_count") || !strcmp(name, "save_every") || !strcmp(name, "sample_tokens") ||
            !strcmp(name, "sample_count") || !strcmp(name, "top_k")) {
            Type *t = check_expr(c, v);
            long n;
            bool zero_ok = !strcmp(name, "seed") || !strcmp(name, "top_k");
            if (t->kind == TY_ERROR) continue;
            if (!is_int_value(t, &n) || n < 0 || (n == 0 && !zero_ok))
                diag_error(c->d, v->span, "`%s` must be a %s integer%s, not %s", name,
                           zero_ok ? "non-negative" : "positive",
                           strcmp(name, "top_k") ? "" : " (0: every token)", span_text(c, v->span));
        } else if (!strcmp(name, "temperature")) {
            Type *t = check_expr(c, v);
            if (t->kind != TY_ERROR && !(t->has_value && t->value >= 0 && isfinite(t->value)))
                diag_error(c->d, v->span, "`temperature` must be a number >= 0 (0: the most likely token), not %s",
                           span_text(c, v->span));
        } else if (!strcmp(name, "sample")) {
            if (v->kind != EX_NAME)
                diag_error(c->d, v->span, "`sample` names the binding that holds the next-token logits [B, T, vocab]");
        } else if (!strcmp(name, "prompt")) {
            bool words = false;
            for (const char *p = v->kind == EX_STR ? v->str : ""; *p; p++) words |= *p != ' ' && *p != '\t' && *p != '\n';
            if (!words) diag_error(c->d, v->span, "`prompt` is the text the samples continue, in quotes, not %s",
                                   span_text(c, v->span));
        } else if (!strcmp(name, "clip_grad_norm")) {
            Type *t = check_expr(c, v);
            if (t->kind != TY_ERROR && !(t->has_value && t->value > 0))
                diag_error(c->d, v->span, "`clip_grad_norm` is the largest norm of the gradients, a number > 0, not %s",
                           span_text(c, v->span));
        } else if (!strcmp(name, "show") || !strcmp(name, "neighbours")) {
            /* show: bindings by name (lowering finds them); neighbours: words in quotes */
            ExprKind want = !strcmp(name, "show") ? EX_NAME : EX_STR;
            int n = v->kind == EX_LIST ? v->args.len : 1;
            for (int j = 0; j < n; j++) {
                Expr *x = v->kind == EX_LIST ? v->args.items[j].value : v;
                if (x->kind != want)
                    diag_error(c->d, x->span, "`%s` lists %s", name,
                               want == EX_NAME ? "bindings of the stage by name" : "words in quotes");
            }
        } else if (!strcmp(name, "codes") || !strcmp(name, "labels")) {
            if (v->kind != EX_NAME) diag_error(c->d, v->span, "`%s` names a binding of the stage", name);
        } else if (!strcmp(name, "embedding")) {
            if (v->kind != EX_NAME ||
                (v->ref == REF_FUNC && v->item->role != ROLE_ENCODER && v->item->role != ROLE_DECODER))
                diag_error(c->d, v->span, "`embedding` names the encoder or decoder that holds the table");
        } else if (!strcmp(name, "load") || !strcmp(name, "save") || !strcmp(name, "vectors")) {
            if (v->kind != EX_STR) diag_error(c->d, v->span, "`%s` takes a file name in quotes", name);
        } else if (!strcmp(name, "optimizer")) {
            static const char *const names[] = {"sgd", "adam", "adamw"};
            static const char *const sgd[] = {"lr", "momentum", "weight_decay", NULL};
            static const char *const adam[] = {"lr", "beta1", "beta2", "eps", "weight_decay", NULL};
            static const char *const *const args[] = {sgd, adam, adam};
            check_named_call(c, v, "optimizer", names, args, 3, "lr");
        } else if (!strcmp(name, "schedule")) {
            static const char *const names[] = {"constant", "linear", "cosine"};
            static const char *const warm[] = {"warmup", NULL};
            static const char *const decay[] = {"warmup", "to", NULL};
            static const char *const *const args[] = {warm, decay, decay};
            check_named_call(c, v, "schedule", names, args, 3, NULL);
            check_schedule_values(c, v);
        } else if (!strcmp(name, "freeze")) {
            int n = v->kind == EX_LIST ? v->args.len : 1;
            for (int j = 0; j < n; j++) {
                Expr *x = v->kind == EX_LIST ? v->args.items[j].value : v;
                if (x->ref == REF_FUNC && x->item->role != ROLE_ENCODER && x->item->role != ROLE_DECODER) {
                    diag_error(c->d, x->span, "`freeze` names encoders and decoders; `%s` is a %s", x->str,
                               ast_role_name(x->item->role));
                    diag_note(c->d, x->item->name_span, "`%s` declared here", x->str);
                }
            }
        } else if (!strcmp(name, "validate")) {
            if (v->item && v->item->kind == ITEM_STAGE && v->item->stage_kind != STAGE_EVAL) {
                diag_error(c->d, v->span, "`validate` names an eval stage; `%s` is a train stage", v->str);
                diag_note(c->d, v->item->name_span, "`%s` declared here", v->str);
            }
        }
    }
    if (!seen[0] && !st->data) diag_error(c->d, st->name_span, "stage `%s` needs a `data:` setting", st->name);
    /* settings that only mean something beside another one */
    static const char *const needs[][2] = {{"labels", "codes"},          {"show_width", "show"},
                                           {"show_count", "show"},       {"vectors", "embedding"},
                                           {"neighbours", "embedding"}, {"prompt", "sample"},
                                           {"sample_tokens", "sample"},  {"sample_count", "sample"},
                                           {"temperature", "sample"},    {"top_k", "sample"}};
    for (size_t j = 0; j < sizeof needs / sizeof *needs; j++) {
        const Stmt *with = setting_seen(seen, needs[j][0]);
        if (with && !setting_seen(seen, needs[j][1]))
            diag_error(c->d, with->span, "`%s` goes with `%s`", needs[j][0], needs[j][1]);
    }
    const Stmt *sample = setting_seen(seen, "sample");
    if (sample && !setting_seen(seen, "prompt"))
        diag_error(c->d, sample->span, "`sample` needs a `prompt`: the text the samples continue");
    check_warmup_fits(c, setting_seen(seen, "schedule"), setting_seen(seen, "steps"));
    if (seen[4] && seen[5]) {
        diag_error(c->d, seen[5]->span, "give `epochs` or `steps`, not both");
        diag_note(c->d, seen[4]->span, "`epochs` given here");
    }
}

void check_stage(Checker *c, Item *st) {
    check_settings(c, st);
    check_body(c, st);
}

/* -------------------------------------------------------------- datasets */

static const char *source_name(Expr *e) {
    return e && e->kind == EX_CALL && e->callee->kind == EX_NAME ? e->callee->str : NULL;
}

/* text(..., unit = "word" | "char"): the one option that is a string. */
static bool check_unit_option(Checker *c, Arg *ar) {
    Expr *v = ar->value;
    if (v->kind == EX_STR && (!strcmp(v->str, "word") || !strcmp(v->str, "char"))) return true;
    diag_error(c->d, v->span, "`unit` is \"word\" or \"char\"");
    return false;
}

static const char *const text_opts[] = {"lowercase", "min_count", "unit", "tags", NULL};

/* text(..., tags = true): the argument, or NULL when tags is absent or false. */
static Arg *tags_arg(Expr *text) {
    for (int i = 0; text && text->kind == EX_CALL && i < text->args.len; i++) {
        Arg *ar = &text->args.items[i];
        if (ar->name && !strcmp(ar->name, "tags") && !(ar->value->kind == EX_BOOL && ar->value->num == 0)) return ar;
    }
    return NULL;
}

/* `tags = true` gives a sequences dataset its `tags` field; anywhere else it
 * would be silently ignored, so it is an error there. */
static void check_no_tags(Checker *c, Expr *text) {
    Arg *ar = tags_arg(text);
    if (ar)
        diag_error(c->d, ar->span, "`tags` goes with `sequences(text(..., tags = true), ...)`: only a sequences "
                   "dataset has the field `tags`");
}

/* Checks a source call's arguments: a path string first, then its named options. */
static bool check_source_args(Checker *c, Expr *e, const char *const *opts, bool corpus_first) {
    const char *name = source_name(e);
    int npos = 0;
    for (int i = 0; i < e->args.len; i++) {
        Arg *ar = &e->args.items[i];
        if (!ar->name) {
            if (npos++ > 0) {
                diag_error(c->d, ar->span, "`%s` takes one positional argument", name);
                return false;
            }
            if (corpus_first) {
                const char *inner = source_name(ar->value);
                if (!inner || strcmp(inner, "text") != 0) {
                    diag_error(c->d, ar->value->span, "`%s` needs a corpus: %s(text(\"...\"), ...)", name, name);
                    return false;
                }
                if (!check_source_args(c, ar->value, text_opts, false)) return false;
            } else if (ar->value->kind != EX_STR) {
                diag_error(c->d, ar->value->span, "`%s` needs a path in quotes", name);
                return false;
            }
            continue;
        }
        bool ok = false;
        for (int k = 0; opts[k]; k++) ok |= strcmp(opts[k], ar->name) == 0;
        if (!ok) {
            diag_error(c->d, ar->span, "`%s` has no option `%s`", name, ar->name);
            return false;
        }
        if (!strcmp(ar->name, "unit")) {
            if (!check_unit_option(c, ar)) return false;
            continue;
        }
        if (!strcmp(ar->name, "tags")) {
            if (ar->value->kind != EX_BOOL) {
                diag_error(c->d, ar->value->span, "`tags` is true or false");
                return false;
            }
            continue;
        }
        Type *t = check_expr(c, ar->value);
        if (t->kind != TY_ERROR && !t->has_value) {
            diag_error(c->d, ar->value->span, "option `%s` must be a compile-time number", ar->name);
            return false;
        }
    }
    if (npos == 0) {
        diag_error(c->d, e->span, "`%s` needs a %s", name, corpus_first ? "corpus" : "path");
        return false;
    }
    return true;
}

static bool int_option(Checker *c, Expr *e, const char *opt, long *out, bool required) {
    for (int i = 0; i < e->args.len; i++) {
        Arg *ar = &e->args.items[i];
        if (ar->name && strcmp(ar->name, opt) == 0) {
            if (!is_int_value(ar->value->type, out) || *out <= 0) {
                diag_error(c->d, ar->value->span, "option `%s` must be a positive integer", opt);
                return false;
            }
            return true;
        }
    }
    if (required) diag_error(c->d, e->span, "`%s` needs `%s = N`", source_name(e), opt);
    return false;
}

/* sequences' `length` and `stride`: positive integers; an error names the
 * dataset. *out stays 0 when the option is absent, -1 when it is wrong. */
static bool window_option(Checker *c, Item *ds, Expr *e, const char *opt, long *out) {
    for (int i = 0; i < e->args.len; i++) {
        Arg *ar = &e->args.items[i];
        if (!ar->name || strcmp(ar->name, opt) != 0) continue;
        if (!is_int_value(ar->value->type, out) || *out <= 0) {
            diag_error(c->d, ar->value->span, "`%s` of the sequences of dataset `%s` must be a positive integer, not %s",
                       opt, ds->name, span_text(c, ar->value->span));
            *out = -1;
            return false;
        }
        return true;
    }
    return false;
}

/* The source of a field: a source call with scalar arithmetic around it. */
static const char *check_field_source(Checker *c, Expr *e) {
    if (!e) return NULL;
    if (e->kind == EX_BINARY || e->kind == EX_NEG) {
        const char *inner = NULL;
        Expr *sides[2] = {e->lhs, e->kind == EX_BINARY ? e->rhs : NULL};
        for (int i = 0; i < 2; i++) {
            if (!sides[i]) continue;
            if (source_name(sides[i]) || sides[i]->kind == EX_BINARY || sides[i]->kind == EX_NEG) {
                const char *s = check_field_source(c, sides[i]);
                if (s && inner) {
                    diag_error(c->d, e->span, "a field has one source");
                    return NULL;
                }
                if (!s) return NULL;
                inner = s;
            } else {
                Type *t = check_expr(c, sides[i]);
                if (t->kind != TY_ERROR && !t->has_value) {
                    diag_error(c->d, sides[i]->span, "a source can only be combined with numbers, applied at load");
                    return NULL;
                }
            }
        }
        if (!inner) diag_error(c->d, e->span, "a field needs a source: idx, npy, csv, tokens or text");
        if (e->kind == EX_BINARY && e->op >= OP_EQ) {
            diag_error(c->d, e->span, "a source can only take arithmetic (+ - * / ^) with numbers");
            return NULL;
        }
        return inner;
    }
    const char *name = source_name(e);
    if (name && !sema_is_source_name(name)) {
        diag_error(c->d, e->callee->span, "unknown source `%s`: a field reads idx, npy, csv, tokens or text", name);
        return NULL;
    }
    if (!name) {
        diag_error(c->d, e->span, "a field needs a source: idx, npy, csv, tokens or text");
        return NULL;
    }
    static const char *const none[] = {NULL};
    static const char *const csv[] = {"columns", NULL};
    static const char *const tokens[] = {"length", NULL};
    if (!strcmp(name, "idx") || !strcmp(name, "npy")) return check_source_args(c, e, none, false) ? name : NULL;
    if (!strcmp(name, "csv")) return check_source_args(c, e, csv, false) ? name : NULL;
    if (!strcmp(name, "tokens")) return check_source_args(c, e, tokens, false) ? name : NULL;
    if (!strcmp(name, "text")) {
        check_no_tags(c, e);
        return check_source_args(c, e, text_opts, false) ? name : NULL;
    }
    diag_error(c->d, e->span, "`%s` makes a whole dataset: write `dataset NAME = %s(...)`", name, name);
    return NULL;
}

static void add_field(Checker *c, Item *ds, const char *name, Type *t, Span at) {
    DataField f = {name, t, at};
    vec_push(c->a, &ds->sema->fields, f);
}

static void add_prop(Checker *c, Item *ds, const char *name) {
    DataProp pr = {name, sema_new_sym(c->a, SYM_PROP, arena_printf(c->a, "%s.%s", ds->name, name), ds, 0)};
    vec_push(c->a, &ds->sema->props, pr);
}

void sema_dataset_fields(Program *p, Item *ds) {
    Checker cc = {.p = p, .a = p->arena, .d = p->diags}, *c = &cc;
    sema_item(c->a, ds);
    for (int i = 0; i < ds->fields.len; i++) {
        Field *f = &ds->fields.items[i];
        Type *t = f->type ? eval_type(c, NULL, f->type) : type_error(c->a);
        if (!t) {
            diag_error(c->d, f->type->span, "a field is a tensor, not `int`");
            t = type_error(c->a);
        } else if (t->kind == TY_TENSOR && t->ellipsis) {
            diag_error(c->d, f->type->span, "a field's shape must be known: no `...`");
            t = type_error(c->a);
        }
        const char *src = check_field_source(c, f->source);
        if (src && (!strcmp(src, "tokens") || !strcmp(src, "text")) && !ds->sema->props.len)
            add_prop(c, ds, "vocab");
        add_field(c, ds, f->name, t, f->span);
    }
    Expr *v = ds->value;
    if (!v) return;
    const char *name = source_name(v);
    if (!name || !sema_is_source_name(name)) {
        diag_error(c->d, v->span, "a dataset is a source (csv, tokens, text, sequences, skipgram) or a block of fields");
        return;
    }
    ds->sema->source = name;
    long n;
    if (!strcmp(name, "csv")) {
        static const char *const opts[] = {"columns", NULL};
        if (!check_source_args(c, v, opts, false) || !int_option(c, v, "columns", &n, true)) return;
        Dim d = dim_const(n);
        add_field(c, ds, "x", type_tensor(c->a, DT_F32, 1, &d), v->span);
    } else if (!strcmp(name, "tokens")) {
        static const char *const opts[] = {"length", NULL};
        if (!check_source_args(c, v, opts, false) || !int_option(c, v, "length", &n, true)) return;
        Dim d = dim_const(n);
        add_field(c, ds, "x", type_tensor(c->a, DT_I32, 1, &d), v->span);
        add_prop(c, ds, "vocab");
    } else if (!strcmp(name, "skipgram")) {
        static const char *const opts[] = {"window", "negatives", "min_count", "subsample", NULL};
        if (!check_source_args(c, v, opts, true)) return;
        if (!int_option(c, v, "negatives", &n, false)) n = 5;
        long w;
        if (!int_option(c, v, "window", &w, false)) w = 5;
        Dim d = dim_const(n);
        check_no_tags(c, v->args.len ? v->args.items[0].value : NULL);
        add_field(c, ds, "center", type_scalar(c->a, DT_I32), v->span);
        add_field(c, ds, "context", type_scalar(c->a, DT_I32), v->span);
        add_field(c, ds, "negatives", type_tensor(c->a, DT_I32, 1, &d), v->span);
        add_prop(c, ds, "vocab");
    } else if (!strcmp(name, "sequences")) {
        static const char *const opts[] = {"length", "stride", "start", "end", NULL};
        if (!check_source_args(c, v, opts, true)) return;
        /* start, end: the part of the corpus the windows come from, as fractions (a split) */
        double part[2] = {0, 1};
        for (int i = 0; i < v->args.len; i++) {
            Arg *ar = &v->args.items[i];
            int k = !ar->name ? -1 : !strcmp(ar->name, "start") ? 0 : !strcmp(ar->name, "end") ? 1 : -1;
            if (k < 0) continue;
            Type *t = ar->value->type;
            if (!t || !t->has_value || !(t->value >= 0 && t->value <= 1)) {
                diag_error(c->d, ar->value->span, "`%s` of the sequences of dataset `%s` is a fraction of the corpus, "
                           "from 0 to 1, not %s", ar->name, ds->name, span_text(c, ar->value->span));
                return;
            }
            part[k] = t->value;
        }
        if (part[0] >= part[1]) {
            diag_error(c->d, v->span, "the sequences of dataset `%s` start at %g of the corpus, not before their end "
                       "(%g)", ds->name, part[0], part[1]);
            return;
        }
        long len = 0, stride = 0;
        bool has_len = window_option(c, ds, v, "length", &len);
        window_option(c, ds, v, "stride", &stride); /* reports a bad stride; absent: = length */
        if (!has_len) {
            if (len == 0) diag_error(c->d, v->span, "`sequences` of dataset `%s` needs `length = L`", ds->name);
            return;
        }
        Dim d = dim_const(len);
        add_field(c, ds, "ids", type_tensor(c->a, DT_I32, 1, &d), v->span);
        add_prop(c, ds, "vocab");
        Expr *text = v->args.len && !v->args.items[0].name ? v->args.items[0].value : NULL;
        Arg *tags = tags_arg(text);
        for (int i = 0; tags && i < text->args.len; i++) {
            Arg *ar = &text->args.items[i];
            if (ar->name && !strcmp(ar->name, "unit") && ar->value->kind == EX_STR && !strcmp(ar->value->str, "char")) {
                diag_error(c->d, tags->span, "`tags = true` reads the TAG of word/TAG tokens; it does not go with "
                           "unit = \"char\"");
                tags = NULL;
            }
        }
        if (tags) {
            add_field(c, ds, "tags", type_tensor(c->a, DT_I32, 1, &d), tags->span);
            add_prop(c, ds, "tags");
        }
    } else if (!strcmp(name, "text")) {
        check_no_tags(c, v);
        if (!check_source_args(c, v, text_opts, false)) return;
        add_field(c, ds, "x", type_scalar(c->a, DT_I32), v->span);
        add_prop(c, ds, "vocab");
    } else {
        diag_error(c->d, v->span, "`%s` needs field types: write `dataset %s { x: [N] = %s(...) }`", name, ds->name,
                   name);
    }
}

int sema_dataset_nfields(const Item *ds) { return ds->sema ? ds->sema->fields.len : 0; }

const char *sema_dataset_field(const Item *ds, int i, const Type **type) {
    if (!ds->sema || i < 0 || i >= ds->sema->fields.len) return NULL;
    if (type) *type = ds->sema->fields.items[i].type;
    return ds->sema->fields.items[i].name;
}

