/* check.c — gives every expression a dtype and a shape (rl-language.md §3-§6).
 *
 * Each function body is checked once, generically: its size variables are
 * symbols. A call binds the callee's symbols to the caller's dims (like
 * generics) and substitutes them into the declared result. After an error an
 * expression has TY_ERROR, which fits anything, so one mistake reports once.
 */
#include "check_impl.h"

#include <math.h>
#include <string.h>

static void ensure_sig(Checker *c, Item *fn);

const char *ty(Checker *c, const Type *t) { return type_str(c->a, t); }

const char *span_text(Checker *c, Span s) {
    if (!s.file || s.off < 0 || (size_t)(s.off + s.len) > s.file->len) return "?";
    return arena_strndup(c->a, s.file->text + s.off, (size_t)s.len);
}

static const char *role_word(const Item *it) {
    if (it->kind == ITEM_STAGE) return it->stage_kind == STAGE_TRAIN ? "train stage" : "eval stage";
    return ast_role_name(it->role);
}

Type *with_value(Type *t, double v) {
    t->has_value = true;
    t->value = v;
    if (v == floor(v) && fabs(v) < DIM_LIMIT) {
        t->has_dim = true;
        t->dim = dim_const((long)v);
    }
    return t;
}

static Type *weak_number(Checker *c, double v) {
    Type *t = type_scalar(c->a, v == floor(v) ? DT_I32 : DT_F32);
    t->weak = true;
    return with_value(t, v);
}

static Type *weak_dim(Checker *c, Dim d) {
    Type *t = type_scalar(c->a, DT_I32);
    t->weak = true;
    t->has_dim = true;
    t->dim = d;
    long v;
    if (dim_is_const(&d, &v)) {
        t->has_value = true;
        t->value = (double)v;
    }
    return t;
}

bool is_int_value(const Type *t, long *out) {
    if (t->kind != TY_TENSOR || !t->has_value || t->value != floor(t->value) || fabs(t->value) > DIM_LIMIT)
        return false;
    *out = (long)t->value;
    return true;
}

/* A note at where a value came from: "`enc` declared here with [B, Z]". */
void note_origin(Checker *c, const Expr *e) {
    if (!e || !e->type || e->type->kind != TY_TENSOR) return;
    const char *shape = ty(c, e->type);
    if ((e->kind == EX_NAME || e->kind == EX_FIELD) && e->ref == REF_ARG && c->fn) {
        Param *pa = &c->fn->params.items[e->slot];
        diag_note(c->d, pa->span, "`%s` declared here with %s", pa->name, shape);
    } else if (e->kind == EX_NAME && e->ref == REF_LOCAL && c->local_spans &&
               c->local_spans[e->slot].file) {
        diag_note(c->d, c->local_spans[e->slot], "`%s` bound here with %s", e->str, shape);
    } else if (e->kind == EX_CALL && e->callee->ref == REF_FUNC) {
        Item *f = e->callee->item;
        if (f->results.len == 1)
            diag_note(c->d, f->name_span, "`%s` declared here with %s (here %s)", f->name,
                      span_text(c, f->results.items[0]->span), shape);
    }
}

/* ------------------------------------------------------------------ dims */

static const DimSym *prop_sym(Checker *c, Item *ds, const char *name) {
    if (!ds->sema) return NULL;
    for (int i = 0; i < ds->sema->props.len; i++)
        if (strcmp(ds->sema->props.items[i].name, name) == 0) return ds->sema->props.items[i].sym;
    return NULL;
}

static bool eval_dim(Checker *c, Item *owner, Expr *e, Dim *out);

/* A const made from a dataset property, as a dim; checked once, at its first
 * use or by sema_check, so a bad property is reported once, at the const. */
static bool const_dim(Checker *c, Item *k, Dim *out) {
    struct SemaItem *s = sema_item(c->a, k);
    if (s->check_state == 3) return false;
    bool ok = eval_dim(c, NULL, k->value, out);
    s->check_state = ok ? 2 : 3;
    return ok;
}

/* The value of a dim written in a type or used as an integer. */
static bool eval_dim(Checker *c, Item *owner, Expr *e, Dim *out) {
    Dim a, b;
    switch (e->kind) {
    case EX_NUM:
        if (e->num != floor(e->num) || e->num < 0 || e->num > DIM_LIMIT) {
            diag_error(c->d, e->span, "a dim must be a non-negative integer, not %g", e->num);
            return false;
        }
        *out = dim_const((long)e->num);
        return true;
    case EX_NAME: case EX_FIELD:
        switch (e->ref) {
        case REF_CONST:
            if (e->item->const_from_data) return const_dim(c, e->item, out);
            if (e->item->const_value != floor(e->item->const_value) || fabs(e->item->const_value) > DIM_LIMIT) {
                diag_error(c->d, e->span, "`%s` is %g, not an integer, so it cannot be a dim", e->str,
                           e->item->const_value);
                return false;
            }
            *out = dim_const((long)e->item->const_value);
            return true;
        case REF_DIM:
            if (!owner || !owner->sema || e->slot < 0 || e->slot >= owner->sema->dims.len) return false;
            *out = dim_sym(owner->sema->dims.items[e->slot]);
            return true;
        case REF_BATCH:
            *out = dim_sym(owner->sema->batch);
            return true;
        case REF_NONE:
            if (e->kind == EX_FIELD && e->lhs->ref == REF_DATASET) {
                const DimSym *s = prop_sym(c, e->lhs->item, e->str);
                if (s) {
                    *out = dim_sym(s);
                    return true;
                }
                diag_error(c->d, e->span, "dataset `%s` has no property `%s`", e->lhs->item->name, e->str);
                return false;
            }
            return false;   /* unresolved: reported */
        default:
            diag_error(c->d, e->span, "`%s` is not a dim", span_text(c, e->span));
            return false;
        }
    case EX_BINARY:
        if (!eval_dim(c, owner, e->lhs, &a) || !eval_dim(c, owner, e->rhs, &b)) return false;
        if (e->op == OP_DIV || e->op == OP_FLOORDIV)
            return sema_dim_div(c->a, c->d, owner, out, &a, &b, e->op == OP_FLOORDIV, false, e->span);
        if ((e->op == OP_ADD && dim_add(out, &a, &b)) || (e->op == OP_SUB && dim_sub(out, &a, &b)) ||
            (e->op == OP_MUL && dim_mul(out, &a, &b)))
            return true;
        diag_error(c->d, e->span, e->op == OP_ADD || e->op == OP_SUB || e->op == OP_MUL
                                      ? "this dim is too large or has too many terms"
                                      : "a dim may only combine dims with + - * / //");
        return false;
    default:
        diag_error(c->d, e->span, "`%s` is not a dim", span_text(c, e->span));
        return false;
    }
}

/* A written type to a Type; NULL for `int`. */
Type *eval_type(Checker *c, Item *owner, TypeExpr *te) {
    if (te->is_int) return NULL;
    Type *t = type_tensor(c->a, te->dtype, te->dims.len, NULL);
    t->ellipsis = te->ellipsis;
    for (int i = 0; i < te->dims.len; i++) {
        if (!eval_dim(c, owner, te->dims.items[i], &t->dims[i])) return type_error(c->a);
        long v;
        if (dim_is_const(&t->dims[i], &v) && v < 0) {
            diag_error(c->d, te->dims.items[i]->span, "a dim cannot be negative (this is %ld)", v);
            return type_error(c->a);
        }
    }
    return t;
}

static void ensure_sig(Checker *c, Item *fn) {
    struct SemaItem *s = sema_item(c->a, fn);
    if (s->param_types) return;
    s->param_types = arena_alloc(c->a, sizeof(Type *) * (size_t)(fn->params.len + 1));
    s->result_types = arena_alloc(c->a, sizeof(Type *) * (size_t)(fn->results.len + 1));
    for (int i = 0; i < fn->params.len; i++) {
        Param *pa = &fn->params.items[i];
        if (pa->type && pa->type->is_int) {
            int slot = -1;
            for (int k = 0; k < fn->dim_names.len; k++)
                if (strcmp(fn->dim_names.items[k], pa->name) == 0) slot = k;
            s->param_types[i] = slot >= 0 ? weak_dim(c, dim_sym(s->dims.items[slot])) : type_error(c->a);
        } else if (pa->type) {
            s->param_types[i] = eval_type(c, fn, pa->type);
            if (pa->type->ellipsis) s->ell_used = true;
            if (pa->default_value) {
                Checker sub = *c;
                sub.fn = NULL;
                Type *d = check_expr(&sub, pa->default_value);
                if (d->kind != TY_ERROR && !d->has_value)
                    diag_error(c->d, pa->default_value->span,
                               "the default of tensor argument `%s` must be a compile-time number", pa->name);
            }
        } else {
            Checker sub = *c;
            sub.fn = NULL;
            Type *d = check_expr(&sub, pa->default_value);
            if (d->kind != TY_ERROR && !d->has_value) {
                diag_error(c->d, pa->default_value->span, "the default of `%s` must be a compile-time number",
                           pa->name);
                d = type_error(c->a);
            }
            Type *h = type_scalar(c->a, DT_F32);
            h->weak = true;
            s->param_types[i] = d->kind == TY_ERROR ? d : with_value(h, d->value);
            /* an integer hyper is a dim symbol in the body, bound at each call */
            for (int k = 0; k < s->dims.len && h->has_dim; k++)
                if (s->dims.items[k]->kind == SYM_HYPER && strcmp(s->dims.items[k]->name, pa->name) == 0)
                    h->dim = dim_sym(s->dims.items[k]);
        }
    }
    for (int i = 0; i < fn->results.len; i++) {
        s->result_types[i] = eval_type(c, fn, fn->results.items[i]);
        if (!s->result_types[i]) {
            diag_error(c->d, fn->results.items[i]->span, "`int` is only an argument type");
            s->result_types[i] = type_error(c->a);
        }
    }
}

/* ----------------------------------------------------------- unification */

typedef struct Unify {
    Checker *c;
    Item *callee;
    CallInfo *ci;
    Expr *call;
    bool failed;
    bool ell_bound;
} Unify;

typedef enum { U_OK, U_MISMATCH, U_PENDING } UResult;

/* Unifies a callee dim (its own symbols) with a caller dim. */
static UResult unify_dim(Unify *u, const Dim *pd, const Dim *ad, const char *from) {
    Dim s;
    bool complete;
    if (!dim_subst(&s, pd, &u->ci->dims, u->callee, &complete)) return U_MISMATCH;
    if (complete) return dim_eq(&s, ad) ? U_OK : U_MISMATCH;
    /* s = coef*v + rest, with v the only unbound symbol of the callee, in one term */
    int at = -1;
    for (int i = 0; i < s.nterms; i++) {
        for (int k = 0; k < s.terms[i].nvars; k++) {
            const DimSym *v = s.terms[i].vars[k];
            if (v->owner == u->callee && !dim_env_get(&u->ci->dims, v)) {
                if (at >= 0 || s.terms[i].nvars != 1) return U_PENDING;
                at = i;
            }
        }
    }
    DimTerm t = s.terms[at];
    Dim rest = s, val;
    rest.terms[at].coef = 0;
    memmove(&rest.terms[at], &rest.terms[at + 1], sizeof(DimTerm) * (size_t)(rest.nterms - at - 1));
    rest.nterms--;
    if (!dim_sub(&val, ad, &rest)) return U_MISMATCH;
    for (int i = 0; i < val.nterms; i++) {
        if (val.terms[i].coef % t.coef != 0) return U_MISMATCH;
        val.terms[i].coef /= t.coef;
    }
    long v;
    if (dim_is_const(&val, &v) && v < 0) return U_MISMATCH;
    DimBinding b = {t.vars[0], val, from};
    vec_push(u->c->a, &u->ci->dims.items, b);
    return U_OK;
}

/* The callee's written type with what is known substituted, a bound `...` included:
 * "[128, 784]". */
static const char *resolved_str(Unify *u, const Type *pt) {
    int lead = pt->ellipsis && u->ell_bound ? u->ci->ell_rank : 0;
    Type *t = type_tensor(u->c->a, pt->dtype, lead + pt->rank, NULL);
    t->ellipsis = pt->ellipsis && (!u->ell_bound || u->ci->caller_ellipsis);
    for (int i = 0; i < lead; i++) t->dims[i] = u->ci->ell_dims[i];
    for (int i = 0; i < pt->rank; i++) dim_subst(&t->dims[lead + i], &pt->dims[i], &u->ci->dims, NULL, NULL);
    return ty(u->c, t);
}

static void arg_mismatch(Unify *u, Param *pa, Expr *arg, const Type *pt, const char *why) {
    Checker *c = u->c;
    const char *written = span_text(c, pa->type->span);
    const char *res = resolved_str(u, pt);
    if (strcmp(written, res) == 0)
        diag_error(c->d, arg->span, "argument `%s` of `%s` must be %s, not %s%s", pa->name, u->callee->name,
                   written, ty(c, arg->type), why);
    else
        diag_error(c->d, arg->span, "argument `%s` of `%s` must be %s (here %s), not %s%s", pa->name,
                   u->callee->name, written, res, ty(c, arg->type), why);
    diag_note(c->d, pa->span, "`%s` declared here with %s", pa->name, written);
    u->failed = true;
}

typedef struct Pending {
    const Dim *pd, *ad;
    Param *pa;
    Expr *arg;
    const Type *pt;
} Pending;
typedef Vec(Pending) PendingVec;

static void unify_arg(Unify *u, Param *pa, Expr *arg, const Type *pt, PendingVec *pending) {
    Checker *c = u->c;
    const Type *at = arg->type;
    if (at->kind == TY_ERROR || pt->kind == TY_ERROR) return;
    if (at->kind != TY_TENSOR) {
        diag_error(c->d, arg->span, "argument `%s` of `%s` must be a tensor", pa->name, u->callee->name);
        u->failed = true;
        return;
    }
    if (at->dtype != pt->dtype && !at->weak) {
        arg_mismatch(u, pa, arg, pt, at->dtype == DT_I32 ? " (convert with float(...))" : "");
        return;
    }
    int lead;    /* axes of the actual that the callee's `...` takes */
    if (pt->ellipsis) {
        lead = at->rank - pt->rank;
        if (lead < 0) {
            arg_mismatch(u, pa, arg, pt, ": too few axes");
            return;
        }
        if (!u->ell_bound) {
            u->ell_bound = true;
            u->ci->ell_rank = lead;
            u->ci->ell_dims = arena_alloc(c->a, sizeof(Dim) * (size_t)(lead + 1));
            memcpy(u->ci->ell_dims, at->dims, sizeof(Dim) * (size_t)lead);
            u->ci->caller_ellipsis = at->ellipsis;
        } else {
            bool same = u->ci->ell_rank == lead && u->ci->caller_ellipsis == at->ellipsis;
            for (int i = 0; same && i < lead; i++) same = dim_eq(&u->ci->ell_dims[i], &at->dims[i]);
            if (!same) {
                arg_mismatch(u, pa, arg, pt, ": its leading `...` axes differ from an earlier argument's");
                return;
            }
        }
    } else {
        lead = 0;
        if (at->ellipsis || at->rank != pt->rank) {
            arg_mismatch(u, pa, arg, pt, "");
            return;
        }
    }
    for (int i = 0; i < pt->rank; i++) {
        const Dim *pd = &pt->dims[i], *ad = &at->dims[lead + i];
        /* a variable bound by an earlier argument: say which two disagree */
        if (pd->nterms == 1 && pd->terms[0].nvars == 1 && pd->terms[0].coef == 1) {
            const DimSym *v = pd->terms[0].vars[0];
            for (int k = 0; k < u->ci->dims.items.len; k++) {
                DimBinding *b = &u->ci->dims.items.items[k];
                if (b->sym == v && !dim_eq(&b->value, ad)) {
                    StrBuf x = {0}, y = {0};
                    dim_print(&b->value, &x);
                    dim_print(ad, &y);
                    diag_error(c->d, arg->span, "`%s` is %s from argument `%s` but %s from argument `%s` of `%s`",
                               v->name, x.data, b->from ? b->from : "?", y.data, pa->name, u->callee->name);
                    diag_note(c->d, u->callee->name_span, "`%s` declared here with %s", u->callee->name,
                              span_text(c, pa->type->span));
                    sb_free(&x);
                    sb_free(&y);
                    u->failed = true;
                    return;
                }
            }
        }
        UResult r = unify_dim(u, pd, ad, pa->name);
        if (r == U_MISMATCH) {
            arg_mismatch(u, pa, arg, pt, "");
            return;
        }
        if (r == U_PENDING) {
            Pending p = {pd, ad, pa, arg, pt};
            vec_push(c->a, pending, p);
        }
    }
}

/* A result dim that comes out zero or negative at a call (a kernel larger than
 * its padded input: `(2 + 2*0 - 3) // 1 + 1`) is an error at the call, with a
 * note at the declaration. */
static bool result_sizes_positive(Checker *c, Item *fn, const Type *r, Span at) {
    if (r->kind != TY_TENSOR) return true;
    for (int i = 0; i < r->rank; i++) {
        long v;
        if (dim_is_const(&r->dims[i], &v) && v <= 0) {
            diag_error(c->d, at, "this call of `%s` would give %s: axis %d has size %ld", fn->name, ty(c, r), i, v);
            diag_note(c->d, fn->results.items[0]->span, "`%s` declared here with result %s", fn->name,
                      span_text(c, fn->results.items[0]->span));
            return false;
        }
    }
    return true;
}

/* The declared result in the caller's terms. */
static Type *subst_type(Unify *u, const Type *rt, Span at) {
    Checker *c = u->c;
    if (rt->kind == TY_ERROR) return (Type *)rt;
    if (rt->kind == TY_TUPLE) {
        Type *t = arena_alloc(c->a, sizeof *t);
        t->kind = TY_TUPLE;
        for (int i = 0; i < rt->elems.len; i++) vec_push(c->a, &t->elems, subst_type(u, rt->elems.items[i], at));
        return t;
    }
    int lead = rt->ellipsis ? (u->ell_bound ? u->ci->ell_rank : 0) : 0;
    Type *t = type_tensor(c->a, rt->dtype, lead + rt->rank, NULL);
    if (rt->ellipsis) {
        if (!u->ell_bound) {
            diag_error(c->d, at, "cannot tell what `...` stands for in the result of `%s`", u->callee->name);
            return type_error(c->a);
        }
        memcpy(t->dims, u->ci->ell_dims, sizeof(Dim) * (size_t)lead);
        t->ellipsis = u->ci->caller_ellipsis;
    }
    for (int i = 0; i < rt->rank; i++) {
        bool complete;
        if (!dim_subst(&t->dims[lead + i], &rt->dims[i], &u->ci->dims, u->callee, &complete) || !complete) {
            diag_error(c->d, at, "cannot infer the result shape %s of `%s` from its arguments", ty(c, rt),
                       u->callee->name);
            return type_error(c->a);
        }
    }
    return t;
}

static Param *find_param(Item *fn, const char *name, int *index) {
    for (int i = 0; i < fn->params.len; i++) {
        if (strcmp(fn->params.items[i].name, name) == 0) {
            *index = i;
            return &fn->params.items[i];
        }
    }
    return NULL;
}

static Type *check_user_call(Checker *c, Expr *e, Item *fn) {
    ensure_sig(c, fn);
    struct SemaItem *s = fn->sema;
    int n = fn->params.len;
    Expr **given = arena_alloc(c->a, sizeof(Expr *) * (size_t)(n + 1));
    bool bad = false;
    int pos = 0;
    for (int i = 0; i < e->args.len; i++) {
        Arg *ar = &e->args.items[i];
        check_expr(c, ar->value);
        int k;
        if (!ar->name) {
            if (pos >= n) {
                diag_error(c->d, ar->span, "`%s` takes %d argument%s, not %d", fn->name, n, n == 1 ? "" : "s",
                           e->args.len);
                diag_note(c->d, fn->name_span, "`%s` declared here", fn->name);
                return type_error(c->a);
            }
            k = pos++;
        } else if (!find_param(fn, ar->name, &k)) {
            diag_error(c->d, ar->span, "`%s` has no argument `%s`", fn->name, ar->name);
            diag_note(c->d, fn->name_span, "`%s` declared here", fn->name);
            bad = true;
            continue;
        }
        if (given[k]) {
            diag_error(c->d, ar->span, "argument `%s` of `%s` is given twice", fn->params.items[k].name, fn->name);
            bad = true;
            continue;
        }
        given[k] = ar->value;
    }
    for (int k = 0; k < n; k++) {
        if (!given[k] && !fn->params.items[k].default_value) {
            diag_error(c->d, e->span, "missing argument `%s` of `%s`", fn->params.items[k].name, fn->name);
            diag_note(c->d, fn->params.items[k].span, "`%s` declared here", fn->params.items[k].name);
            bad = true;
        }
    }
    if (bad) return type_error(c->a);

    for (int k = 0; k < n; k++)
        if (given[k] && given[k]->type->kind == TY_ERROR) return type_error(c->a);   /* reported */
    CallInfo *ci = arena_alloc(c->a, sizeof *ci);
    ci->ell_rank = -1;
    Unify u = {c, fn, ci, e, false, false};
    /* int arguments and hypers first: tensor shapes may mention them */
    for (int k = 0; k < n; k++) {
        Param *pa = &fn->params.items[k];
        Expr *g = given[k];
        if (pa->type && pa->type->is_int) {
            const DimSym *sym = NULL;
            for (int j = 0; j < s->dims.len; j++)
                if (s->dims.items[j]->kind == SYM_INT_ARG && strcmp(s->dims.items[j]->name, pa->name) == 0)
                    sym = s->dims.items[j];
            if (!sym || g->type->kind == TY_ERROR) {
                u.failed = true;
                continue;
            }
            if (!g->type->has_dim) {
                diag_error(c->d, g->span, "argument `%s` of `%s` must be a compile-time integer", pa->name, fn->name);
                u.failed = true;
                continue;
            }
            long v;
            if (dim_is_const(&g->type->dim, &v) && v <= 0) {
                diag_error(c->d, g->span, "argument `%s` of `%s` must be positive, not %ld", pa->name, fn->name, v);
                u.failed = true;
                continue;
            }
            DimBinding b = {sym, g->type->dim, pa->name};
            vec_push(c->a, &ci->dims.items, b);
        }
    }
    for (int k = 0; k < n; k++) {
        Param *pa = &fn->params.items[k];
        double hv = NAN;
        if (!pa->type) {
            Expr *g = given[k];
            if (g && g->type->kind != TY_ERROR && !(g->type->has_value)) {
                diag_error(c->d, g->span, "`%s` of `%s` is a compile-time number; this is not", pa->name, fn->name);
                u.failed = true;
            } else if (g && g->type->kind != TY_ERROR) {
                hv = g->type->value;
            } else if (!g && s->param_types[k]->has_value) {
                hv = s->param_types[k]->value;
            }
        }
        vec_push(c->a, &ci->hypers, hv);
        /* an integer hyper binds its dim symbol (`stride` in `(H - k) // stride + 1`) */
        for (int j = 0; j < s->dims.len && !isnan(hv) && hv == floor(hv) && fabs(hv) < DIM_LIMIT; j++)
            if (s->dims.items[j]->kind == SYM_HYPER && strcmp(s->dims.items[j]->name, pa->name) == 0) {
                DimBinding b = {s->dims.items[j], dim_const((long)hv), pa->name};
                vec_push(c->a, &ci->dims.items, b);
            }
    }
    PendingVec pending = {0};
    for (int k = 0; k < n && !u.failed; k++) {
        Param *pa = &fn->params.items[k];
        /* an omitted tensor argument is its default broadcast to the shape the others give */
        if (pa->type && !pa->type->is_int && given[k]) unify_arg(&u, pa, given[k], s->param_types[k], &pending);
    }
    for (int round = 0; round < 2 && !u.failed; round++) {
        for (int i = 0; i < pending.len && !u.failed; i++) {
            Pending *pd = &pending.items[i];
            if (!pd->pa) continue;
            UResult r = unify_dim(&u, pd->pd, pd->ad, pd->pa->name);
            if (r == U_MISMATCH) arg_mismatch(&u, pd->pa, pd->arg, pd->pt, "");
            if (r != U_PENDING) pd->pa = NULL;
        }
    }
    for (int i = 0; i < pending.len && !u.failed; i++) {
        if (pending.items[i].pa) {
            diag_error(c->d, pending.items[i].arg->span, "cannot infer the dims of %s for argument `%s` of `%s`",
                       span_text(c, pending.items[i].pa->type->span), pending.items[i].pa->name, fn->name);
            u.failed = true;
        }
    }
    if (u.failed || !sema_bind_quotients(c->a, c->d, fn, c->fn, &ci->dims, e->span)) return type_error(c->a);
    e->call = ci;
    if (fn->role == ROLE_ENCODER || fn->role == ROLE_DECODER) vec_push(c->a, &s->calls, e);
    if (fn->results.len == 1 && !fn->result_is_tuple) {
        Type *r = subst_type(&u, s->result_types[0], e->span);
        return result_sizes_positive(c, fn, r, e->span) ? r : type_error(c->a);
    }
    Type *t = arena_alloc(c->a, sizeof *t);
    t->kind = TY_TUPLE;
    for (int i = 0; i < fn->results.len; i++) {
        Type *r = subst_type(&u, s->result_types[i], e->span);
        if (r->kind == TY_ERROR) return r;
        vec_push(c->a, &t->elems, r);
    }
    return t;
}

static Type *check_call(Checker *c, Expr *e) {
    Expr *f = e->callee;
    if ((f->kind == EX_NAME || f->kind == EX_FIELD) && f->ref == REF_FUNC) {
        f->type = type_error(c->a);
        f->type->kind = TY_NONE;
        return check_user_call(c, e, f->item);
    }
    if (f->kind == EX_NAME && f->ref == REF_BUILTIN) {
        f->type = type_error(c->a);
        f->type->kind = TY_NONE;
        return check_builtin(c, e, f->builtin);
    }
    Type *t = check_expr(c, f);
    for (int i = 0; i < e->args.len; i++) check_expr(c, e->args.items[i].value);
    if (t->kind == TY_ERROR) return t;
    diag_error(c->d, f->span, "`%s` is not a function", span_text(c, f->span));
    return type_error(c->a);
}

/* numpy's matmul: the last two axes multiply ([M, K] @ [K, N] -> [M, N]), the
 * leading axes broadcast (`[B, H, T, D] @ [B, H, D, S]`, `[B, T, D] @ [D, E]`).
 * `[..., K] @ [K, N]` maps the rows of x. */
static Type *check_matmul(Checker *c, Expr *e, Type *x, Type *y) {
    if (x->dtype == DT_I32 || y->dtype == DT_I32) {
        diag_error(c->d, e->span, "`@` needs f32 matrices, not %s and %s", ty(c, x), ty(c, y));
        return type_error(c->a);
    }
    bool rows = x->ellipsis && x->rank == 1 && !y->ellipsis && y->rank == 2;
    if (!rows && (x->rank < 2 || y->rank < 2)) {
        diag_error(c->d, e->span, "`@` multiplies the last two axes: it needs at least 2 axes on each side, not %s and %s",
                   ty(c, x), ty(c, y));
        note_origin(c, e->lhs);
        note_origin(c, e->rhs);
        return type_error(c->a);
    }
    const Dim *k1 = &x->dims[x->rank - 1], *k2 = &y->dims[y->rank - 2];
    if (!dim_eq(k1, k2)) {
        diag_error(c->d, e->span, "`@` of %s and %s: the inner dims differ", ty(c, x), ty(c, y));
        note_origin(c, e->lhs);
        note_origin(c, e->rhs);
        return type_error(c->a);
    }
    if (rows) {
        Type *r = copy_type(c, x);
        r->dims[0] = y->dims[1];
        return r;
    }
    /* the leading axes: numpy broadcasting, as for elementwise operands */
    Type *lx = type_tensor(c->a, DT_F32, x->rank - 2, x->dims), *ly = type_tensor(c->a, DT_F32, y->rank - 2, y->dims);
    lx->ellipsis = x->ellipsis;
    ly->ellipsis = y->ellipsis;
    int bad;
    Type *lead = type_broadcast(c->a, lx, ly, &bad);
    if (!lead) {
        diag_error(c->d, e->span, "`@` of %s and %s: the leading axes do not broadcast", ty(c, x), ty(c, y));
        note_origin(c, e->lhs);
        note_origin(c, e->rhs);
        return type_error(c->a);
    }
    Type *r = type_tensor(c->a, DT_F32, lead->rank + 2, NULL);
    memcpy(r->dims, lead->dims, sizeof(Dim) * (size_t)lead->rank);
    r->ellipsis = lead->ellipsis;
    r->dims[lead->rank] = x->dims[x->rank - 2];
    r->dims[lead->rank + 1] = y->dims[y->rank - 1];
    return r;
}

static Type *check_binary(Checker *c, Expr *e) {
    Type *x = value_of(c, e->lhs), *y = value_of(c, e->rhs);
    if (x->kind == TY_ERROR) return x;
    if (y->kind == TY_ERROR) return y;
    const char *op = ast_binop_text(e->op);
    bool cmp = e->op >= OP_EQ;
    if (!x->weak && !y->weak && x->dtype != y->dtype) {
        if (cmp)
            diag_error(c->d, e->span, "cannot compare %s with %s: convert with float(...)", ty(c, x), ty(c, y));
        else
            diag_error(c->d, e->span, "`%s` mixes %s and %s: i32 and f32 do not mix, convert with float(...)", op,
                       ty(c, x), ty(c, y));
        return type_error(c->a);
    }
    if (e->op == OP_MATMUL) return check_matmul(c, e, x, y);
    if (e->op == OP_FLOORDIV && !(x->has_value && y->has_value) && !(x->has_dim && y->has_dim)) {
        diag_error(c->d, e->span, "`//` divides integers known at compile time (dims), not %s and %s", ty(c, x),
                   ty(c, y));
        return type_error(c->a);
    }
    Type *r = binary_shape(c, e, x, y, arena_printf(c->a, "`%s`", op));
    if (!r) {
        note_origin(c, e->lhs);
        note_origin(c, e->rhs);
        return type_error(c->a);
    }
    r->dtype = cmp ? DT_F32 : join_dtype(x, y);
    r->weak = x->weak && y->weak;
    if (x->has_value && y->has_value) {
        double a = x->value, b = y->value, v = 0;
        bool ok = true;
        switch (e->op) {
        case OP_ADD: v = a + b; break;
        case OP_SUB: v = a - b; break;
        case OP_MUL: v = a * b; break;
        case OP_DIV: ok = b != 0; v = ok ? a / b : 0; break;
        case OP_FLOORDIV: ok = b != 0; v = ok ? floor(a / b) : 0; break;
        case OP_POW: v = pow(a, b); break;
        default: ok = false; break;
        }
        if (ok) with_value(r, v);
    }
    /* Dims (symbols included: an integer hyper in a layer's body) combine as dims;
     * `/` of dims stays a dim only when exact. */
    if (x->has_dim && y->has_dim) {
        Dim d;
        bool sym = !dim_is_const(&x->dim, NULL) || !dim_is_const(&y->dim, NULL);
        bool ok = (e->op == OP_ADD && dim_add(&d, &x->dim, &y->dim)) ||
                  (e->op == OP_SUB && dim_sub(&d, &x->dim, &y->dim)) ||
                  (e->op == OP_MUL && dim_mul(&d, &x->dim, &y->dim));
        if (!ok && e->op == OP_FLOORDIV) {
            if (!sema_dim_div(c->a, c->d, c->fn, &d, &x->dim, &y->dim, true, false, e->span)) return type_error(c->a);
            ok = true;
        }
        /* `N / h` with a symbol: an exact quotient if it is used as a dim */
        if (!ok && e->op == OP_DIV && sym && c->fn)
            ok = sema_dim_div(c->a, c->d, c->fn, &d, &x->dim, &y->dim, false, true, e->span);
        if (ok && (sym || !r->has_dim)) {
            r->has_dim = true;
            r->dim = d;
        }
    }
    return r;
}

/* A slice bound or index: an integer known at compile time, possibly symbolic (`cut`). */
static bool bound(Checker *c, Expr *b, Dim *out) {
    Type *t = value_of(c, b);
    if (t->kind == TY_ERROR) return false;
    if (!t->has_dim) {
        diag_error(c->d, b->span, "a slice bound or index must be a compile-time integer");
        return false;
    }
    *out = t->dim;
    return true;
}

/* Whether lo < hi is certainly false: both known, or their difference known. */
static bool certainly_not_less(const Dim *lo, const Dim *hi) {
    Dim diff;
    long v;
    return dim_sub(&diff, hi, lo) && dim_is_const(&diff, &v) && v <= 0;
}

static Type *check_index(Checker *c, Expr *e) {
    Type *x = value_of(c, e->lhs);
    if (x->kind == TY_ERROR) return x;
    /* a gather: one i32 tensor index picks rows */
    if (e->args.len == 1 && e->args.items[0].value->kind != EX_SLICE) {
        Expr *ie = e->args.items[0].value;
        Type *it = value_of(c, ie);
        if (it->kind == TY_ERROR) return it;
        if (!it->has_value) {
            if (it->dtype != DT_I32) {
                diag_error(c->d, ie->span, "an index must be i32, not %s", ty(c, it));
                return type_error(c->a);
            }
            if (x->rank < 1 || x->ellipsis) {
                diag_error(c->d, e->span, "cannot gather rows of %s", ty(c, x));
                return type_error(c->a);
            }
            Type *r = type_tensor(c->a, x->dtype, it->rank + x->rank - 1, NULL);
            memcpy(r->dims, it->dims, sizeof(Dim) * (size_t)it->rank);
            memcpy(r->dims + it->rank, x->dims + 1, sizeof(Dim) * (size_t)(x->rank - 1));
            r->ellipsis = it->ellipsis;
            return r;
        }
    }
    if (x->ellipsis) {
        diag_error(c->d, e->span, "cannot slice %s: its `...` axes are unknown here", ty(c, x));
        return type_error(c->a);
    }
    if (e->args.len > x->rank) {
        diag_error(c->d, e->span, "%d indices for %s, which has %d ax%s", e->args.len, ty(c, x), x->rank,
                   x->rank == 1 ? "is" : "es");
        note_origin(c, e->lhs);
        return type_error(c->a);
    }
    Type *r = type_tensor(c->a, x->dtype, x->rank, NULL);
    int out = 0;
    for (int i = 0; i < x->rank; i++) {
        Expr *a = i < e->args.len ? e->args.items[i].value : NULL;
        const Dim *d = &x->dims[i];
        if (!a) {
            r->dims[out++] = *d;
            continue;
        }
        Dim zero = dim_const(0), minus1 = dim_const(-1);
        if (a->kind != EX_SLICE) {
            Dim k;
            if (!bound(c, a, &k)) return type_error(c->a);
            if (certainly_not_less(&minus1, &k) || certainly_not_less(&k, d)) {
                diag_error(c->d, a->span, "index %s is out of range for axis %d of %s", span_text(c, a->span), i,
                           ty(c, x));
                note_origin(c, e->lhs);
                return type_error(c->a);
            }
            continue;   /* the axis is dropped */
        }
        Dim lo = zero, hi = *d;
        if (a->lhs && !bound(c, a->lhs, &lo)) return type_error(c->a);
        if (a->rhs && !bound(c, a->rhs, &hi)) return type_error(c->a);
        /* need 0 <= lo < hi <= dim */
        Dim one = dim_const(1), d1 = *d;
        dim_add(&d1, d, &one);   /* on overflow d1 stays d: the check below is then stricter */
        if (certainly_not_less(&minus1, &lo) || certainly_not_less(&lo, &hi) ||
            (a->rhs && certainly_not_less(&hi, &d1))) {
            diag_error(c->d, a->span, "slice %s is out of range for axis %d of %s", span_text(c, a->span), i,
                       ty(c, x));
            note_origin(c, e->lhs);
            return type_error(c->a);
        }
        if (!dim_sub(&r->dims[out], &hi, &lo)) {
            diag_error(c->d, a->span, "slice %s: the bounds are too large", span_text(c, a->span));
            return type_error(c->a);
        }
        out++;
    }
    r->rank = out;
    return r;
}

static Type *check_name(Checker *c, Expr *e) {
    struct SemaItem *s = c->fn ? c->fn->sema : NULL;
    switch (e->ref) {
    case REF_LOCAL: {
        Type *t = s && s->locals ? s->locals[e->slot] : NULL;
        return t ? t : type_error(c->a);
    }
    case REF_ARG: return s->param_types[e->slot];
    case REF_DIM:
    case REF_BATCH: {
        Dim d;
        return eval_dim(c, c->fn, e, &d) ? weak_dim(c, d) : type_error(c->a);
    }
    case REF_CONST:
        if (e->item->const_from_data) {
            Dim d;
            return const_dim(c, e->item, &d) ? weak_dim(c, d) : type_error(c->a);
        }
        return weak_number(c, e->item->const_value);
    case REF_FIELD: {
        DataField *f = &e->item->sema->fields.items[e->slot];
        if (f->type->kind == TY_ERROR) return f->type;
        Type *t = type_tensor(c->a, f->type->dtype, f->type->rank + 1, NULL);
        t->dims[0] = dim_sym(c->fn->sema->batch);
        memcpy(t->dims + 1, f->type->dims, sizeof(Dim) * (size_t)f->type->rank);
        return t;
    }
    case REF_NONE:
        if (e->item && e->item->kind == ITEM_STAGE) {
            Type *t = type_error(c->a);
            t->kind = TY_NONE;
            return t;
        }
        return type_error(c->a);
    default: {
        Type *t = type_error(c->a);
        t->kind = TY_NONE;
        return t;
    }
    }
}

static Type *check_expr_inner(Checker *c, Expr *e) {
    switch (e->kind) {
    case EX_NUM: case EX_BOOL: return weak_number(c, e->num);
    case EX_STR: {
        Type *t = type_error(c->a);
        t->kind = TY_STR;
        return t;
    }
    case EX_NAME: return check_name(c, e);
    case EX_FIELD:
        if (e->ref != REF_NONE) return check_name(c, e);
        if (e->lhs->kind == EX_NAME && e->lhs->ref == REF_DATASET) {
            Dim d;
            return eval_dim(c, c->fn, e, &d) ? weak_dim(c, d) : type_error(c->a);
        }
        {
            Type *t = check_expr(c, e->lhs);
            if (t->kind == TY_ERROR || (e->lhs->ref == REF_MODULE)) return type_error(c->a);
            diag_error(c->d, e->span, "%s has no field `%s` (only `.T` applies to tensors)", ty(c, t), e->str);
            return type_error(c->a);
        }
    case EX_BINARY: return check_binary(c, e);
    case EX_NEG: {
        Type *t = value_of(c, e->lhs);
        if (t->kind == TY_ERROR) return t;
        Type *r = copy_type(c, t);
        r->weak = t->weak;
        if (t->has_value) with_value(r, -t->value);
        if (t->has_dim) {
            Dim z = dim_const(0);
            r->has_dim = dim_sub(&r->dim, &z, &t->dim);
        }
        return r;
    }
    case EX_TRANSPOSE: {
        /* numpy: `.T` reverses every axis, `.mT` swaps the last two */
        Type *t = value_of(c, e->lhs);
        if (t->kind == TY_ERROR) return t;
        bool all = strcmp(e->str, "T") == 0;
        if (t->rank < 2) {
            diag_error(c->d, e->span, "`.%s` needs at least 2 axes, not %s", e->str, ty(c, t));
            return type_error(c->a);
        }
        if (all && t->ellipsis) {
            diag_error(c->d, e->span, "`.T` reverses every axis, but the `...` axes of %s are unknown here: "
                       "use `.mT` (the last two) or transpose(x, [...])", ty(c, t));
            return type_error(c->a);
        }
        Type *r = copy_type(c, t);
        for (int i = 0; i < t->rank; i++) r->dims[i] = t->dims[all ? t->rank - 1 - i : i];
        if (!all) {
            r->dims[t->rank - 1] = t->dims[t->rank - 2];
            r->dims[t->rank - 2] = t->dims[t->rank - 1];
        }
        return r;
    }
    case EX_CALL: return check_call(c, e);
    case EX_INDEX: return check_index(c, e);
    case EX_SLICE:
        diag_error(c->d, e->span, "a slice is only allowed inside `[...]`");
        return type_error(c->a);
    case EX_TUPLE: {
        Type *t = arena_alloc(c->a, sizeof *t);
        t->kind = TY_TUPLE;
        for (int i = 0; i < e->args.len; i++) {
            Type *el = value_of(c, e->args.items[i].value);
            if (el->kind == TY_ERROR) return el;
            vec_push(c->a, &t->elems, el);
        }
        return t;
    }
    case EX_LIST: {
        for (int i = 0; i < e->args.len; i++) check_expr(c, e->args.items[i].value);
        Type *t = type_error(c->a);
        t->kind = TY_LIST;
        return t;
    }
    }
    return type_error(c->a);
}

Type *check_expr(Checker *c, Expr *e) {
    if (!e) return type_error(c->a);
    if (!e->type) e->type = check_expr_inner(c, e);
    return e->type;
}

/* An expression that must be a tensor (or a tuple, where a function returns one). */
Type *value_of(Checker *c, Expr *e) {
    Type *t = check_expr(c, e);
    if (t->kind == TY_TENSOR || t->kind == TY_ERROR) return t;
    const char *text = span_text(c, e->span);
    if (t->kind == TY_NONE) {
        const Item *it = e->item;
        if (e->ref == REF_FUNC || e->ref == REF_BUILTIN)
            diag_error(c->d, e->span, "`%s` is a function: call it", text);
        else if (it && it->kind == ITEM_DATASET)
            diag_error(c->d, e->span, "`%s` is a dataset, not a value: stages see its fields", text);
        else
            diag_error(c->d, e->span, "`%s` is not a value", text);
    } else if (t->kind == TY_TUPLE) {
        diag_error(c->d, e->span, "`%s` is a tuple of %d values; take it apart with (a, b) = ...", text,
                   t->elems.len);
    } else {
        diag_error(c->d, e->span, "`%s` is not a tensor", text);
    }
    e->type = type_error(c->a);
    return e->type;
}

/* ------------------------------------------------------------ statements */

bool same_type(const Type *x, const Type *y) {
    if (x->kind == TY_ERROR || y->kind == TY_ERROR) return true;
    if (x->kind != TY_TENSOR || y->kind != TY_TENSOR) return false;
    if ((x->dtype != y->dtype && !y->weak) || x->ellipsis != y->ellipsis || x->rank != y->rank) return false;
    for (int i = 0; i < x->rank; i++)
        if (!dim_eq(&x->dims[i], &y->dims[i])) return false;
    return true;
}

static void check_return(Checker *c, Stmt *s) {
    Item *fn = c->fn;
    struct SemaItem *si = fn->sema;
    Type *t = check_expr(c, s->value);
    if (t->kind == TY_ERROR) return;
    int want = fn->results.len;
    bool tuple = fn->result_is_tuple || want > 1;
    if (tuple) {
        if (t->kind != TY_TUPLE || t->elems.len != want) {
            diag_error(c->d, s->value->span, "`%s` returns %d values, not %s", fn->name, want,
                       t->kind == TY_TUPLE ? arena_printf(c->a, "%d", t->elems.len) : "one");
            diag_note(c->d, fn->name_span, "`%s` declared here", fn->name);
            return;
        }
    } else if (t->kind == TY_TUPLE) {
        diag_error(c->d, s->value->span, "`%s` returns one value, not %d", fn->name, t->elems.len);
        diag_note(c->d, fn->name_span, "`%s` declared here", fn->name);
        return;
    }
    for (int i = 0; i < want; i++) {
        Type *got = tuple ? t->elems.items[i] : value_of(c, s->value);
        Expr *at = tuple && s->value->kind == EX_TUPLE ? s->value->args.items[i].value : s->value;
        if (!same_type(si->result_types[i], got)) {
            diag_error(c->d, at->span, "`%s` returns %s here, but its result is declared %s", fn->name, ty(c, got),
                       ty(c, si->result_types[i]));
            diag_note(c->d, fn->results.items[i]->span, "declared here as %s",
                      span_text(c, fn->results.items[i]->span));
        }
    }
}

static void check_param_init(Checker *c, Stmt *s) {
    Expr *v = s->value;
    if (!v) return;
    if (v->kind == EX_NAME && sema_is_init_name(v->str) && v->ref == REF_NONE) {
        if (strcmp(v->str, "normal") == 0 || strcmp(v->str, "uniform") == 0)
            diag_error(c->d, v->span, "`%s` needs two numbers: %s(a, b)", v->str, v->str);
        return;
    }
    if (v->kind == EX_CALL && v->callee->kind == EX_NAME && sema_is_init_name(v->callee->str)) {
        bool two = strcmp(v->callee->str, "normal") == 0 || strcmp(v->callee->str, "uniform") == 0;
        if (!two || v->args.len != 2) {
            diag_error(c->d, v->span, two ? "`%s` takes two numbers" : "`%s` takes no arguments", v->callee->str);
            return;
        }
        for (int i = 0; i < 2; i++) {
            Type *t = check_expr(c, v->args.items[i].value);
            if (t->kind != TY_ERROR && !t->has_value)
                diag_error(c->d, v->args.items[i].value->span, "an initializer argument must be a compile-time number");
        }
        return;
    }
    Type *t = check_expr(c, v);
    if (t->kind != TY_ERROR && !t->has_value)
        diag_error(c->d, v->span, "a `param` starts as glorot, he, zeros, ones, normal(m, s), uniform(a, b) or a number");
}

void check_body(Checker *c, Item *it) {
    struct SemaItem *s = it->sema;
    s->locals = arena_alloc(c->a, sizeof(Type *) * (size_t)(it->n_locals + 1));
    c->local_spans = arena_alloc(c->a, sizeof(Span) * (size_t)(it->n_locals + 1));
    c->fn = it;
    bool is_stage = it->kind == ITEM_STAGE;
    bool returned = false;
    Stmt *minimize = NULL;
    for (int i = 0; i < it->body.len; i++) {
        Stmt *st = it->body.items[i];
        switch (st->kind) {
        case ST_SETTING: break;
        case ST_ASSIGN: {
            Type *t = check_expr(c, st->value);
            int n = st->names.len;
            if (n > 1) {
                if (t->kind != TY_ERROR && (t->kind != TY_TUPLE || t->elems.len != n)) {
                    diag_error(c->d, st->value->span, "%d names, but this gives %s", n,
                               t->kind == TY_TUPLE ? arena_printf(c->a, "%d values", t->elems.len) : "one value");
                    t = type_error(c->a);
                }
                for (int k = 0; k < n; k++) {
                    s->locals[st->slot + k] = t->kind == TY_TUPLE ? t->elems.items[k] : t;
                    c->local_spans[st->slot + k] = st->name_spans.len > k ? st->name_spans.items[k] : st->span;
                }
            } else {
                t = value_of(c, st->value);
                s->locals[st->slot] = t;
                c->local_spans[st->slot] = st->name_spans.len ? st->name_spans.items[0] : st->span;
            }
            break;
        }
        case ST_PARAM: {
            bool ok = is_stage || it->role == ROLE_LAYER || it->role == ROLE_ENCODER || it->role == ROLE_DECODER;
            if (!ok)
                diag_error(c->d, st->span, "`param` is only allowed in layer, encoder, decoder and stage bodies, not in %s `%s`",
                           role_word(it), it->name);
            else if (!s->has_param) {
                s->has_param = true;
                s->param_at = st->span;
            }
            Type *t = st->type ? eval_type(c, it, st->type) : type_error(c->a);
            if (!t) {
                diag_error(c->d, st->type->span, "a `param` is a tensor, not `int`");
                t = type_error(c->a);
            } else if (t->kind == TY_TENSOR && (t->dtype != DT_F32 || t->ellipsis)) {
                diag_error(c->d, st->type->span, "a `param` is an f32 tensor of known shape, not %s", ty(c, t));
                t = type_error(c->a);
            }
            s->locals[st->slot] = t;
            c->local_spans[st->slot] = st->name_spans.len ? st->name_spans.items[0] : st->span;
            check_param_init(c, st);
            break;
        }
        case ST_RETURN:
            if (is_stage) {
                diag_error(c->d, st->span, "a stage does not return: use `minimize` or `report`");
                break;
            }
            if (returned) diag_error(c->d, st->span, "`%s` already returned above", it->name);
            returned = true;
            check_return(c, st);
            break;
        case ST_MINIMIZE: {
            if (!is_stage) {
                diag_error(c->d, st->span, "`minimize` belongs in a train stage, not in %s `%s`", role_word(it), it->name);
                break;
            }
            if (it->stage_kind == STAGE_EVAL) {
                diag_error(c->d, st->span, "an eval stage does not minimize: use `report`");
                break;
            }
            if (minimize) {
                diag_error(c->d, st->span, "a train stage minimizes exactly one objective");
                diag_note(c->d, minimize->span, "the first `minimize` is here");
                break;
            }
            minimize = st;
            Type *t = value_of(c, st->value);
            if (t->kind != TY_ERROR && !type_is_scalar(t)) {
                diag_error(c->d, st->value->span, "`minimize` needs a scalar, not %s", ty(c, t));
                note_origin(c, st->value);
            }
            break;
        }
        case ST_REPORT: {
            if (!is_stage) {
                diag_error(c->d, st->span, "`report` belongs in a stage, not in %s `%s`", role_word(it), it->name);
                break;
            }
            Type *t = value_of(c, st->value);
            if (t->kind != TY_ERROR && !type_is_scalar(t)) {
                diag_error(c->d, st->value->span, "a reported value must be a scalar, not %s (reduce it with mean(...))",
                           ty(c, t));
                note_origin(c, st->value);
            }
            break;
        }
        }
    }
    if (!is_stage && !returned) diag_error(c->d, it->name_span, "`%s` does not return a value", it->name);
    if (is_stage && it->stage_kind == STAGE_TRAIN && !minimize)
        diag_error(c->d, it->name_span, "train stage `%s` has no `minimize`", it->name);
    c->fn = NULL;
    c->local_spans = NULL;
}

/* Callees first: a call binds the quotients its callee's body made (`D / heads`
 * in a reshape), so a remainder is found at the call that chose the numbers. */
static void check_func(Checker *c, Item *fn) {
    if (fn->sema->body_state) return;   /* done, or a recursion resolve reported */
    fn->sema->body_state = 1;
    for (int i = 0; i < fn->sema->callees.len; i++)
        if (fn->sema->callees.items[i]->sema) check_func(c, fn->sema->callees.items[i]);
    fn->sema->body_state = 2;
    ensure_sig(c, fn);
    if (fn->role == ROLE_LOSS) {
        for (int i = 0; i < fn->results.len; i++) {
            Type *r = fn->sema->result_types[i];
            if (fn->results.len > 1 || fn->result_is_tuple || !type_is_scalar(r)) {
                diag_error(c->d, fn->results.items[i]->span, "loss `%s` must return a scalar, not %s", fn->name,
                           span_text(c, fn->results.items[i]->span));
                break;
            }
        }
    }
    check_body(c, fn);
}
/* ------------------------------------------------- roles through calls */

/* Whether fn draws random numbers (what == 0) or has parameters (what == 1), itself
 * or through what it calls. */
static bool reaches(Item *fn, int what) {
    struct SemaItem *s = fn->sema;
    if (!s) return false;
    int *memo = what == 0 ? &s->reach_random : &s->reach_param;
    if (*memo) return *memo == 2;
    *memo = 1;   /* also breaks cycles, which resolve reported */
    bool r = what == 0 ? s->has_random : s->has_param;
    for (int i = 0; i < s->callees.len && !r; i++) r = reaches(s->callees.items[i], what);
    *memo = r ? 2 : 1;
    return r;
}

static void check_roles(Checker *c, Item *fn) {
    struct SemaItem *s = fn->sema;
    bool no_random = fn->kind == ITEM_FUNC && fn->role != ROLE_PRETEXT;
    bool no_param = fn->kind == ITEM_FUNC &&
                    (fn->role == ROLE_FN || fn->role == ROLE_PRETEXT || fn->role == ROLE_LOSS);
    for (int i = 0; i < s->callees.len; i++) {
        Item *g = s->callees.items[i];
        if (g->kind != ITEM_FUNC) continue;
        /* only the legitimate holders are reported here; others already were */
        if (no_random && g->role == ROLE_PRETEXT && reaches(g, 0)) {
            diag_error(c->d, s->call_spans.items[i], "%s `%s` may not draw random numbers, but `%s` does",
                       ast_role_name(fn->role), fn->name, g->name);
            diag_note(c->d, g->sema->random_at, "randomness drawn here");
        }
        bool holder = g->role == ROLE_LAYER || g->role == ROLE_ENCODER || g->role == ROLE_DECODER;
        if (no_param && holder && reaches(g, 1)) {
            diag_error(c->d, s->call_spans.items[i], "%s `%s` may not have parameters, but `%s` has them",
                       ast_role_name(fn->role), fn->name, g->name);
        }
    }
}

/* ------------------------------------------- shared encoder parameters */

typedef Vec(Type *) TypeVec;

static void param_shapes_expr(Checker *c, Expr *e, const DimEnv *env, TypeVec *out, int depth);

/* The shapes of every parameter fn owns (its own and its layers', in call order),
 * with fn's dim symbols replaced by env. depth bounds the walk: a layer that
 * calls itself is an error from resolve, but this runs regardless. */
static void param_shapes(Checker *c, Item *fn, const DimEnv *env, TypeVec *out, int depth) {
    if (!fn->sema || !fn->sema->locals || depth > 64) return;
    for (int i = 0; i < fn->body.len; i++) {
        Stmt *st = fn->body.items[i];
        if (st->kind == ST_PARAM) {
            Type *t = fn->sema->locals[st->slot];
            if (!t || t->kind != TY_TENSOR) continue;
            Type *r = copy_type(c, t);
            for (int k = 0; k < t->rank; k++) dim_subst(&r->dims[k], &t->dims[k], env, NULL, NULL);
            vec_push(c->a, out, r);
        } else if (st->value) {
            param_shapes_expr(c, st->value, env, out, depth);
        }
    }
}

static void param_shapes_expr(Checker *c, Expr *e, const DimEnv *env, TypeVec *out, int depth) {
    if (!e) return;
    param_shapes_expr(c, e->lhs, env, out, depth);
    param_shapes_expr(c, e->rhs, env, out, depth);
    for (int i = 0; i < e->args.len; i++) param_shapes_expr(c, e->args.items[i].value, env, out, depth);
    if (e->kind != EX_CALL || !e->call || e->callee->ref != REF_FUNC || e->callee->item->role != ROLE_LAYER) return;
    /* a layer instance: its bindings, seen through the outer call's */
    DimEnv inner = {0};
    for (int i = 0; i < e->call->dims.items.len; i++) {
        DimBinding b = e->call->dims.items.items[i];
        dim_subst(&b.value, &b.value, env, NULL, NULL);
        vec_push(c->a, &inner.items, b);
    }
    param_shapes(c, e->callee->item, &inner, out, depth + 1);
}

/* Every call of an encoder or decoder shares one set of parameters, so each
 * call must give them the same shapes. */
static void check_shared_params(Checker *c, Item *fn) {
    struct SemaItem *s = fn->sema;
    if (s->calls.len < 2) return;
    TypeVec first = {0};
    param_shapes(c, fn, &s->calls.items[0]->call->dims, &first, 0);
    for (int k = 1; k < s->calls.len; k++) {
        TypeVec here = {0};
        param_shapes(c, fn, &s->calls.items[k]->call->dims, &here, 0);
        for (int i = 0; i < here.len && i < first.len; i++) {
            if (!same_type(first.items[i], here.items[i])) {
                diag_error(c->d, s->calls.items[k]->span,
                           "%s `%s` shares its parameters across calls, but a parameter is %s here and %s at the first call",
                           ast_role_name(fn->role), fn->name, ty(c, here.items[i]), ty(c, first.items[i]));
                diag_note(c->d, s->calls.items[0]->span, "first call here");
                break;
            }
        }
    }
}

/* ------------------------------------------------------------------ API */

bool sema_check(Program *p) {
    Checker c = {.p = p, .a = p->arena, .d = p->diags};
    int errors0 = p->diags->errors;
    for (int m = 0; m < p->modules.len; m++) {
        Module *mod = p->modules.items[m];
        for (int i = 0; i < mod->items.len; i++) {
            Item *it = mod->items.items[i];
            Dim d;
            if (it->kind == ITEM_CONST && it->const_from_data) const_dim(&c, it, &d);
        }
    }
    for (int m = 0; m < p->modules.len; m++) {
        Module *mod = p->modules.items[m];
        for (int i = 0; i < mod->items.len; i++) {
            Item *it = mod->items.items[i];
            if (it->kind == ITEM_FUNC && it->sema) check_func(&c, it);
        }
    }
    for (int m = 0; m < p->modules.len; m++) {
        Module *mod = p->modules.items[m];
        for (int i = 0; i < mod->items.len; i++) {
            Item *it = mod->items.items[i];
            if (it->kind == ITEM_STAGE && it->sema) check_stage(&c, it);
        }
    }
    for (int m = 0; m < p->modules.len; m++) {
        Module *mod = p->modules.items[m];
        for (int i = 0; i < mod->items.len; i++) {
            Item *it = mod->items.items[i];
            if ((it->kind == ITEM_FUNC || it->kind == ITEM_STAGE) && it->sema) check_roles(&c, it);
            if (it->kind == ITEM_FUNC && it->sema) check_shared_params(&c, it);
        }
    }
    return p->diags->errors == errors0;
}

bool sema_run(Program *p) {
    bool ok = sema_resolve(p);
    /* check runs even after resolve errors: unresolved names are TY_ERROR and stay quiet */
    return sema_check(p) && ok;
}
