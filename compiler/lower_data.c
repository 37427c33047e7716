/* lower_data.c — datasets become rt_dataset_spec (rl-language.md §4.1), stage
 * settings become IrStage (§6), and `rlc dump --ir/--grad` prints them. */
#include "lower_impl.h"
#include "shard.h"

#include <stdlib.h>

/* ---------------------------------------------------------------- datasets */

/* A number written with consts only: settings, dataset options, load arithmetic. */
static bool const_number(const Expr *e, double *out) {
    switch (e->kind) {
    case EX_NUM:
    case EX_BOOL: *out = e->num; return true;
    case EX_NAME:
    case EX_FIELD:
        if (e->ref == REF_CONST && e->item && !e->item->const_from_data) {
            *out = e->item->const_value;
            return true;
        }
        return false;
    case EX_NEG:
        if (!const_number(e->lhs, out)) return false;
        *out = -*out;
        return true;
    case EX_BINARY: {
        double x, y;
        if (!const_number(e->lhs, &x) || !const_number(e->rhs, &y) || e->op == OP_MATMUL) return false;
        *out = fold(e->op, x, y);
        return true;
    }
    default: return false;
    }
}

static const char *callee_name(const Expr *e) {
    return e->kind == EX_CALL && e->callee && e->callee->str ? e->callee->str : NULL;
}

static bool named_number(Lower *L, const Expr *call, const char *name, double *out) {
    const Expr *v = arg_of(call, -1, name);
    if (!v) return false;
    if (!const_number(v, out)) {
        diag_error(L->d, v->span, "`%s` must be a compile-time number", name);
        return false;
    }
    return true;
}

static const char *path_arg(Lower *L, const Expr *call) {
    const Expr *p = arg_of(call, 0, "path");
    if (p && p->kind == EX_STR) return p->str;
    diag_error(L->d, call->span, "`%s` needs a path string", callee_name(call));
    return NULL;
}

/* text(path, lowercase, min_count, unit): the corpus options, kept per dataset
 * (a dataset reads one corpus). min_count 1 keeps every word. */
static bool lower_text_options(Lower *L, const Expr *text, rt_dataset_spec *ds) {
    double v;
    if (ds->min_count < 1) ds->min_count = 1;
    if (named_number(L, text, "lowercase", &v)) ds->lowercase = v != 0;
    if (named_number(L, text, "min_count", &v)) ds->min_count = (int64_t)v;
    if (named_number(L, text, "tags", &v)) ds->tags = v != 0;
    const Expr *unit = arg_of(text, -1, "unit");
    ds->char_unit = unit && unit->kind == EX_STR && strcmp(unit->str, "char") == 0;
    const char *path = path_arg(L, text);
    if (ds->text_path && path && strcmp(ds->text_path, path) != 0) {
        diag_error(L->d, text->span, "dataset `%s` reads one text corpus; it already reads \"%s\"", ds->name,
                   ds->text_path);
        return false;
    }
    ds->text_path = path;
    return path != NULL;
}

/* idx(...) / 255, 255 - csv(...), -(npy(...) - 0.5) * 2: the source call, and its
 * scalar arithmetic applied once at load, innermost first. */
static bool lower_source(Lower *L, const Expr *e, rt_dataset_spec *ds, rt_field_spec *fs) {
    double v;
    if (e->kind == EX_BINARY && e->op != OP_MATMUL && e->op <= OP_DIV) {
        bool value_first = const_number(e->lhs, &v);
        if (!value_first && !const_number(e->rhs, &v)) goto bad;
        if (!lower_source(L, value_first ? e->rhs : e->lhs, ds, fs)) return false;
        if (fs->n_ops == RT_MAX_LOAD_OPS) goto bad;
        fs->ops[fs->n_ops++] = (rt_scalar_op){"+-*/"[e->op], value_first, v};
        return true;
    }
    if (e->kind == EX_NEG) {
        if (!lower_source(L, e->lhs, ds, fs) || fs->n_ops == RT_MAX_LOAD_OPS) return false;
        fs->ops[fs->n_ops++] = (rt_scalar_op){'*', false, -1};
        return true;
    }
    static const struct {
        const char *name;
        rt_source_kind kind;
    } kinds[] = {{"idx", RT_SRC_IDX}, {"csv", RT_SRC_CSV}, {"npy", RT_SRC_NPY},
                 {"text", RT_SRC_TEXT}, {"tokens", RT_SRC_TOKENS}};
    const char *name = callee_name(e);
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(name, kinds[i].name) != 0) continue;
        fs->kind = kinds[i].kind;
        fs->path = path_arg(L, e);
        if (named_number(L, e, "columns", &v)) fs->columns = (int64_t)v;
        if (named_number(L, e, "length", &v)) fs->length = (int64_t)v;
        if (fs->kind == RT_SRC_TEXT && !lower_text_options(L, e, ds)) return false;
        return fs->path != NULL;
    }
bad:
    diag_error(L->d, e->span,
               "a field's source is idx(...), csv(...), npy(...), text(...) or tokens(...), "
               "with at most %d scalar operations", RT_MAX_LOAD_OPS);
    return false;
}

static const char *dir_of(Arena *a, const Item *it) {
    const char *path = it->module && it->module->file ? it->module->file->path : NULL;
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? arena_strndup(a, path, (size_t)(slash - path)) : ".";
}

static rt_field_spec *new_fields(Lower *L, rt_dataset_spec *ds, int n) {
    ds->n_fields = n;
    ds->fields = arena_alloc(L->a, sizeof(rt_field_spec) * (size_t)n);
    return ds->fields;
}

/* skipgram(text(path, lowercase, min_count), window, negatives, min_count, subsample);
 * defaults as word2vec's: window 5, negatives 5, min_count 5, subsample 1e-3. */
static bool lower_skipgram(Lower *L, const Expr *e, rt_dataset_spec *ds) {
    const Expr *corpus = arg_of(e, 0, "corpus");
    const char *cname = corpus ? callee_name(corpus) : NULL;
    if (!cname || strcmp(cname, "text") != 0) {
        diag_error(L->d, e->span, "skipgram needs a text(...) corpus");
        return false;
    }
    double v;
    ds->skipgram = true;
    ds->window = ds->negatives = ds->min_count = 5;
    ds->subsample = 1e-3;
    if (!lower_text_options(L, corpus, ds)) return false;
    if (named_number(L, e, "min_count", &v)) ds->min_count = (int64_t)v;
    if (named_number(L, e, "window", &v)) ds->window = (int64_t)v;
    if (named_number(L, e, "negatives", &v)) ds->negatives = (int64_t)v;
    if (named_number(L, e, "subsample", &v)) ds->subsample = v;
    rt_field_spec *fs = new_fields(L, ds, 3);
    fs[0] = (rt_field_spec){.name = "center", .is_i32 = true, .kind = RT_SRC_TEXT, .path = ds->text_path};
    fs[1] = (rt_field_spec){.name = "context", .is_i32 = true, .kind = RT_SRC_TEXT, .path = ds->text_path};
    fs[2] = (rt_field_spec){.name = "negatives", .is_i32 = true, .rank = 1, .dims = {ds->negatives},
                            .kind = RT_SRC_TEXT, .path = ds->text_path};
    return ds->text_path != NULL;
}

/* sequences(text(...), length = L, stride = L): one field ids: i32[L]. */
static bool lower_sequences(Lower *L, const Expr *e, rt_dataset_spec *ds) {
    const Expr *corpus = arg_of(e, 0, "corpus");
    const char *cname = corpus ? callee_name(corpus) : NULL;
    if (!cname || strcmp(cname, "text") != 0) {
        diag_error(L->d, e->span, "sequences needs a text(...) corpus");
        return false;
    }
    double v;
    ds->sequences = true;
    if (!lower_text_options(L, corpus, ds)) return false;
    if (named_number(L, e, "length", &v)) ds->seq_length = (int64_t)v;
    ds->seq_stride = named_number(L, e, "stride", &v) ? (int64_t)v : ds->seq_length;
    ds->seq_start = named_number(L, e, "start", &v) ? v : 0;
    ds->seq_end = named_number(L, e, "end", &v) ? v : 1;
    rt_field_spec *fs = new_fields(L, ds, ds->tags ? 2 : 1);
    for (int k = 0; k < ds->n_fields; k++)
        fs[k] = (rt_field_spec){.name = k ? "tags" : "ids", .is_i32 = true, .rank = 1, .dims = {ds->seq_length},
                                .kind = RT_SRC_TEXT, .path = ds->text_path};
    return true;
}

rt_dataset_spec *lower_dataset(Lower *L, const Item *it) {
    rt_dataset_spec *ds = arena_alloc(L->a, sizeof *ds);
    ds->name = it->name;
    ds->base_dir = dir_of(L->a, it);
    vec_push(L->a, &L->datasets, ((DsEntry){it, ds}));
    if (!it->fields.len) {
        /* `= csv(path, columns = N)` is one field x: [N]; `= tokens(path, length = L)` x: i32[L] */
        const char *name = it->value ? callee_name(it->value) : NULL;
        if (name && strcmp(name, "skipgram") == 0) {
            lower_skipgram(L, it->value, ds);
            return ds;
        }
        if (name && strcmp(name, "sequences") == 0) {
            lower_sequences(L, it->value, ds);
            return ds;
        }
        rt_field_spec *fs = new_fields(L, ds, 1);
        fs->name = "x";
        if (!it->value || !lower_source(L, it->value, ds, fs)) return ds;
        if (fs->kind == RT_SRC_CSV && fs->columns > 0) {
            fs->rank = 1;
            fs->dims[0] = fs->columns;
        } else if (fs->kind == RT_SRC_TEXT) {
            fs->is_i32 = true;
        } else if (fs->kind == RT_SRC_TOKENS && fs->length > 0) {
            fs->is_i32 = true;
            fs->rank = 1;
            fs->dims[0] = fs->length;
        } else {
            diag_error(L->d, it->value->span,
                       "this source does not say its shape: declare the fields, `%s { x: [...] = ... }`",
                       it->name);
        }
        return ds;
    }
    rt_field_spec *fs = new_fields(L, ds, it->fields.len);
    for (int i = 0; i < it->fields.len; i++) {
        const Field *fd = &it->fields.items[i];
        fs[i].name = fd->name;
        IrShape s = scalar_shape();
        if (fd->type) {
            fs[i].is_i32 = fd->type->dtype == DT_I32;
            if (!type_shape(L, NULL, fd->type, &s)) continue;
        }
        fs[i].rank = s.rank;
        for (int k = 0; k < s.rank; k++) fs[i].dims[k] = s.d[k].c;
        if (fd->source) lower_source(L, fd->source, ds, &fs[i]);
    }
    return ds;
}

/* ---------------------------------------------------------------- settings */

static bool setting_int(Lower *L, const Stmt *s, int64_t min, int64_t *out) {
    double v;
    if (!const_number(s->value, &v) || v != floor(v) || v < (double)min) {
        diag_error(L->d, s->value->span, "`%s` must be an integer of at least %lld", s->names.items[0],
                   (long long)min);
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static const char *setting_name(Lower *L, const Stmt *s) {
    if (s->value->kind == EX_NAME) return s->value->str;
    diag_error(L->d, s->value->span, "`%s` takes a name", s->names.items[0]);
    return NULL;
}

static const char *setting_str(Lower *L, const Stmt *s) {
    if (s->value->kind == EX_STR) return s->value->str;
    diag_error(L->d, s->value->span, "`%s` takes a string", s->names.items[0]);
    return NULL;
}

/* sgd(lr, momentum = 0, weight_decay = 0); adam/adamw(lr, beta1 = 0.9,
 * beta2 = 0.999, eps = 1e-8, weight_decay = 0, adamw: 0.01 as in PyTorch). */
static void lower_optimizer(Lower *L, const Expr *e, IrOptim *o) {
    const char *name = callee_name(e);
    if (!name && e->kind == EX_NAME) name = e->str;
    if (name && strcmp(name, "sgd") == 0) o->kind = OPT_SGD;
    else if (name && strcmp(name, "adam") == 0) o->kind = OPT_ADAM;
    else if (name && strcmp(name, "adamw") == 0) o->kind = OPT_ADAMW;
    else {
        diag_error(L->d, e->span, "the optimizer is sgd(...), adam(...) or adamw(...)");
        return;
    }
    o->weight_decay = o->kind == OPT_ADAMW ? 0.01 : 0;
    if (e->kind != EX_CALL) return;
    const Expr *lr = arg_of(e, 0, "lr");
    if (lr && !const_number(lr, &o->lr)) diag_error(L->d, lr->span, "`lr` must be a compile-time number");
    static const char *const names[] = {"momentum", "beta1", "beta2", "eps", "weight_decay"};
    double *slots[] = {&o->momentum, &o->beta1, &o->beta2, &o->eps, &o->weight_decay};
    for (int i = 0; i < e->args.len; i++) {
        const Arg *a = &e->args.items[i];
        if (!a->name || strcmp(a->name, "lr") == 0) continue;
        bool known = false;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (strcmp(a->name, names[k]) == 0) {
                known = named_number(L, e, a->name, slots[k]);
                known = true;
            }
        if (!known) diag_error(L->d, a->span, "`%s` has no setting `%s`", name, a->name);
    }
}

/* constant(warmup = 0); linear(warmup = 0, to = 0); cosine(warmup = 0, to = 0):
 * `to` a fraction of the peak rate. */
static void lower_schedule(Lower *L, const Expr *e, IrOptim *o) {
    const char *name = e->kind == EX_NAME ? e->str : callee_name(e);
    double v;
    if (name && strcmp(name, "constant") == 0) {
        o->schedule = SCHED_CONSTANT;
    } else if (name && strcmp(name, "linear") == 0) {
        o->schedule = SCHED_LINEAR;
    } else if (name && strcmp(name, "cosine") == 0) {
        o->schedule = SCHED_COSINE;
    } else {
        diag_error(L->d, e->span, "the schedule is constant, linear(...) or cosine(...)");
        return;
    }
    if (e->kind != EX_CALL) return;
    if (named_number(L, e, "warmup", &v)) o->warmup = (int64_t)v;
    if (o->schedule != SCHED_CONSTANT && named_number(L, e, "to", &v)) o->sched_to = v;
}

static bool setting_is(const char *name, const char *const *list) {
    for (; *list; list++)
        if (strcmp(name, *list) == 0) return true;
    return false;
}

/* The settings of a stage (rl-language.md §6), with their defaults: batch 64,
 * seed 0, one epoch, adam(lr = 1e-3) when no optimizer is named. */
void lower_settings(Lower *L, const Item *st, IrStage *s, IrOptim *o) {
    static const char *const train_only[] = {"epochs", "steps", "optimizer", "schedule", "seed",
                                             "save", "save_every", "validate", "freeze", "clip_grad_norm", NULL};
    static const char *const all[] = {"data",  "batch",   "limit",     "load",       "show",
                                      "show_width", "show_count", "codes", "labels", "vectors",
                                      "embedding", "neighbours", "sample", "prompt", "sample_tokens",
                                      "sample_count", "temperature", "top_k", NULL};
    s->name = st->name;
    s->is_train = st->stage_kind == STAGE_TRAIN;
    s->span = st->span;
    s->batch = 64;
    s->show_count = 8;
    s->codes = s->labels = -1;
    s->sample = (IrSample){.tokens = 20, .count = 3, .temperature = 1};
    *o = (IrOptim){.kind = OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    for (int i = 0; i < st->body.len; i++) {
        const Stmt *t = st->body.items[i];
        if (t->kind != ST_SETTING) continue;
        const char *name = t->names.items[0];
        if (!setting_is(name, all) && !(s->is_train && setting_is(name, train_only))) {
            diag_error(L->d, t->name_spans.len ? t->name_spans.items[0] : t->span,
                       "`%s` is not a setting of %s stage", name, s->is_train ? "a train" : "an eval");
            continue;
        }
        int64_t v;
        if (strcmp(name, "data") == 0) {
            s->dataset = setting_name(L, t);
            if (s->dataset && !find_dataset_item(L, s->dataset))
                diag_error(L->d, t->value->span, "no dataset `%s`", s->dataset);
        } else if (strcmp(name, "batch") == 0) {
            if (setting_int(L, t, 1, &v)) s->batch = v;
        } else if (strcmp(name, "epochs") == 0) {
            if (setting_int(L, t, 1, &v)) s->epochs = v;
        } else if (strcmp(name, "steps") == 0) {
            if (setting_int(L, t, 1, &v)) s->steps = v;
        } else if (strcmp(name, "limit") == 0) {
            if (setting_int(L, t, 1, &v)) s->limit = v;
        } else if (strcmp(name, "seed") == 0) {
            if (setting_int(L, t, 0, &v)) s->seed = (uint64_t)v;
        } else if (strcmp(name, "load") == 0) {
            s->load = setting_str(L, t);
        } else if (strcmp(name, "save") == 0) {
            s->save = setting_str(L, t);
        } else if (strcmp(name, "save_every") == 0) {
            if (setting_int(L, t, 1, &v)) s->save_every = v;
        } else if (strcmp(name, "validate") == 0) {
            s->validate = setting_name(L, t);
        } else if (strcmp(name, "freeze") == 0) {
            const Expr *e = t->value;
            if (e->kind == EX_NAME) {
                vec_push(L->a, &s->freeze, e->str);
            } else if (e->kind == EX_LIST) {
                for (int k = 0; k < e->args.len; k++) {
                    const Expr *c = e->args.items[k].value;
                    if (c->kind == EX_NAME) vec_push(L->a, &s->freeze, c->str);
                    else diag_error(L->d, c->span, "`freeze` lists components by name");
                }
            } else {
                diag_error(L->d, e->span, "`freeze` lists components by name");
            }
        } else if (strcmp(name, "show_width") == 0) {
            if (setting_int(L, t, 1, &v)) s->show_width = v;
        } else if (strcmp(name, "show_count") == 0) {
            if (setting_int(L, t, 1, &v)) s->show_count = v;
        } else if (strcmp(name, "vectors") == 0) {
            s->vectors = setting_str(L, t);
        } else if (strcmp(name, "embedding") == 0) {
            s->embedding = setting_name(L, t);
        } else if (strcmp(name, "neighbours") == 0) {
            const Expr *e = t->value;
            int n = e->kind == EX_LIST ? e->args.len : 1;
            for (int k = 0; k < n; k++) {
                const Expr *c = e->kind == EX_LIST ? e->args.items[k].value : e;
                if (c->kind == EX_STR) vec_push(L->a, &s->neighbours, c->str);
            }
        } else if (strcmp(name, "sample") == 0) {
            s->sample.binding = setting_name(L, t);
        } else if (strcmp(name, "prompt") == 0) {
            s->sample.prompt = setting_str(L, t);
        } else if (strcmp(name, "sample_tokens") == 0) {
            if (setting_int(L, t, 1, &v)) s->sample.tokens = v;
        } else if (strcmp(name, "sample_count") == 0) {
            if (setting_int(L, t, 1, &v)) s->sample.count = v;
        } else if (strcmp(name, "top_k") == 0) {
            if (setting_int(L, t, 0, &v)) s->sample.top_k = v;
        } else if (strcmp(name, "temperature") == 0) {
            double x;
            if (const_number(t->value, &x) && x >= 0 && isfinite(x)) s->sample.temperature = x;
            else diag_error(L->d, t->value->span, "`temperature` must be a number >= 0");
        } else if (strcmp(name, "optimizer") == 0) {
            lower_optimizer(L, t->value, o);
        } else if (strcmp(name, "schedule") == 0) {
            lower_schedule(L, t->value, o);
        } else if (strcmp(name, "clip_grad_norm") == 0) {
            double x;
            if (const_number(t->value, &x) && x > 0) o->clip_norm = x;
            else diag_error(L->d, t->value->span, "`clip_grad_norm` must be a number > 0");
        }
    }
    if (!s->dataset) diag_error(L->d, st->name_span, "stage `%s` has no `data:` setting", st->name);
    if (!s->epochs && !s->steps) s->epochs = 1;
    if (L->o && L->o->batch > 0) s->batch = L->o->batch;
}

/* -------------------------------------------------------------------- dump */

static const char *source_kind_name(rt_source_kind k) {
    static const char *const names[] = {[RT_SRC_IDX] = "idx", [RT_SRC_CSV] = "csv", [RT_SRC_NPY] = "npy",
                                        [RT_SRC_TEXT] = "text", [RT_SRC_TOKENS] = "tokens"};
    return names[k];
}

static void dump_dataset(const rt_dataset_spec *ds, StrBuf *out) {
    sb_printf(out, "dataset %s", ds->name);
    if (ds->skipgram)
        sb_printf(out, " skipgram text=\"%s\" lowercase=%d min_count=%lld window=%lld negatives=%lld subsample=%g",
                  ds->text_path, ds->lowercase, (long long)ds->min_count, (long long)ds->window,
                  (long long)ds->negatives, ds->subsample);
    if (ds->sequences)
        sb_printf(out, " sequences text=\"%s\" lowercase=%d min_count=%lld length=%lld stride=%lld", ds->text_path,
                  ds->lowercase, (long long)ds->min_count, (long long)ds->seq_length, (long long)ds->seq_stride);
    if (ds->sequences && (ds->seq_start > 0 || ds->seq_end < 1))
        sb_printf(out, " start=%g end=%g", ds->seq_start, ds->seq_end);
    if (ds->char_unit) sb_puts(out, " unit=char");
    if (ds->tags) sb_puts(out, " tags");
    sb_puts(out, "\n");
    for (int i = 0; i < ds->n_fields; i++) {
        const rt_field_spec *f = &ds->fields[i];
        sb_printf(out, "  field %s %s[", f->name, f->is_i32 ? "i32" : "f32");
        for (int k = 0; k < f->rank; k++) sb_printf(out, "%s%lld", k ? ", " : "", (long long)f->dims[k]);
        sb_printf(out, "] %s \"%s\"", source_kind_name(f->kind), f->path ? f->path : "");
        if (f->columns) sb_printf(out, " columns=%lld", (long long)f->columns);
        if (f->length) sb_printf(out, " length=%lld", (long long)f->length);
        for (int k = 0; k < f->n_ops; k++) {
            const rt_scalar_op *op = &f->ops[k];
            if (op->value_first) sb_printf(out, " (%g %c x)", op->value, op->op);
            else sb_printf(out, " (x %c %g)", op->op, op->value);
        }
        sb_puts(out, "\n");
    }
}

static void dump_stage_header(const IrStage *s, StrBuf *out) {
    static const char *const opt[] = {[OPT_SGD] = "sgd", [OPT_ADAM] = "adam", [OPT_ADAMW] = "adamw"};
    static const char *const sched[] = {[SCHED_CONSTANT] = "constant", [SCHED_LINEAR] = "linear",
                                        [SCHED_COSINE] = "cosine"};
    sb_printf(out, "stage %s %s data=%s batch=%lld", s->name, s->is_train ? "train" : "eval", s->dataset,
              (long long)s->batch);
    if (s->steps) sb_printf(out, " steps=%lld", (long long)s->steps);
    else if (s->is_train) sb_printf(out, " epochs=%lld", (long long)s->epochs);
    if (s->limit) sb_printf(out, " limit=%lld", (long long)s->limit);
    if (s->is_train) sb_printf(out, " seed=%llu", (unsigned long long)s->seed);
    if (s->load) sb_printf(out, " load=\"%s\"", s->load);
    if (s->save) sb_printf(out, " save=\"%s\"", s->save);
    if (s->save_every) sb_printf(out, " save_every=%lld", (long long)s->save_every);
    if (s->validate) sb_printf(out, " validate=%s", s->validate);
    for (int i = 0; i < s->freeze.len; i++) sb_printf(out, "%s%s", i ? "," : " freeze=", s->freeze.items[i]);
    sb_puts(out, "\n");
    if (s->is_train) {
        const IrOptim *o = &s->graph->optim;
        sb_printf(out, "optimizer %s lr=%g", opt[o->kind], o->lr);
        if (o->kind == OPT_SGD) sb_printf(out, " momentum=%g", o->momentum);
        else sb_printf(out, " beta1=%g beta2=%g eps=%g", o->beta1, o->beta2, o->eps);
        sb_printf(out, " weight_decay=%g schedule=%s", o->weight_decay, sched[o->schedule]);
        if (o->warmup) sb_printf(out, " warmup=%lld", (long long)o->warmup);
        if (o->schedule != SCHED_CONSTANT) sb_printf(out, " to=%g", o->sched_to);
        if (o->clip_norm > 0) sb_printf(out, " clip_grad_norm=%g", o->clip_norm);
        sb_puts(out, "\n");
    }
}

void lower_dump(const IrProgram *ir, bool grad, bool raw, const char *only, StrBuf *out) {
    if (!only)
        for (int i = 0; i < ir->datasets.len; i++) dump_dataset(ir->datasets.items[i], out);
    for (int i = 0; i < ir->stages.len; i++) {
        const IrStage *s = &ir->stages.items[i];
        if (only && strcmp(only, s->name) != 0) continue;
        sb_puts(out, "\n");
        dump_stage_header(s, out);
        const IrGraph *g;
        if (grad && s->is_train) g = raw ? s->raw : s->graph;
        else if (raw) g = s->forward;
        else if (!s->is_train) g = s->graph;
        /* a sharded stage (docs/mpi.md) shows its forward graph with the collectives */
        else g = simplify_graph(s->graph->procs > 1 ? shard_graph(s->forward, s->graph->procs) : s->forward);
        if (s->graph->procs > 1) sb_printf(out, "procs %lld (one process's share of each batch)\n",
                                           (long long)s->graph->procs);
        ir_print(g, out);
    }
}

