/* shape.c — the algebra of symbolic dims and tensor types (sema.h).
 *
 * A dim is a polynomial over dim symbols with integer coefficients, kept in a
 * canonical form (terms sorted by their variable lists, no zero coefficients),
 * so equality of dims is equality of forms: `2*Z` with Z = 32 is `64`, and
 * `B*E` equals `E*B`.
 */
#include "sema.h"

#include <string.h>

Dim dim_const(long v) {
    Dim d = {0};
    if (v != 0) {
        d.nterms = 1;
        d.terms[0].coef = v;
    }
    return d;
}

Dim dim_sym(const DimSym *s) {
    Dim d = {0};
    d.nterms = 1;
    d.terms[0].coef = 1;
    d.terms[0].nvars = 1;
    d.terms[0].vars[0] = s;
    return d;
}

/* Orders terms: fewer variables first (constants lead), then by variable ids. */
static int term_cmp(const DimTerm *a, const DimTerm *b) {
    if (a->nvars != b->nvars) return a->nvars < b->nvars ? -1 : 1;
    for (int i = 0; i < a->nvars; i++)
        if (a->vars[i]->id != b->vars[i]->id) return a->vars[i]->id < b->vars[i]->id ? -1 : 1;
    return 0;
}

/* Adds coef*term into d keeping the form canonical; false when d is full or overflows. */
static bool dim_add_term(Dim *d, const DimTerm *t) {
    if (t->coef == 0) return true;
    int i = 0;
    while (i < d->nterms && term_cmp(&d->terms[i], t) < 0) i++;
    if (i < d->nterms && term_cmp(&d->terms[i], t) == 0) {
        if (__builtin_add_overflow(d->terms[i].coef, t->coef, &d->terms[i].coef)) return false;
        if (d->terms[i].coef == 0) {
            memmove(&d->terms[i], &d->terms[i + 1], sizeof(DimTerm) * (size_t)(d->nterms - i - 1));
            d->nterms--;
        }
        return true;
    }
    if (d->nterms == DIM_MAX_TERMS) return false;
    memmove(&d->terms[i + 1], &d->terms[i], sizeof(DimTerm) * (size_t)(d->nterms - i));
    d->terms[i] = *t;
    d->nterms++;
    return true;
}

static bool dim_lin(Dim *out, const Dim *a, const Dim *b, long sign) {
    Dim r = *a;
    for (int i = 0; i < b->nterms; i++) {
        DimTerm t = b->terms[i];
        if (__builtin_mul_overflow(t.coef, sign, &t.coef)) return false;
        if (!dim_add_term(&r, &t)) return false;
    }
    *out = r;
    return true;
}

bool dim_add(Dim *out, const Dim *a, const Dim *b) { return dim_lin(out, a, b, 1); }
bool dim_sub(Dim *out, const Dim *a, const Dim *b) { return dim_lin(out, a, b, -1); }

bool dim_mul(Dim *out, const Dim *a, const Dim *b) {
    Dim r = {0};
    for (int i = 0; i < a->nterms; i++) {
        for (int j = 0; j < b->nterms; j++) {
            const DimTerm *x = &a->terms[i], *y = &b->terms[j];
            if (x->nvars + y->nvars > DIM_MAX_VARS) return false;
            DimTerm t = {0};
            if (__builtin_mul_overflow(x->coef, y->coef, &t.coef)) return false;
            /* merge the two sorted variable lists */
            int p = 0, q = 0;
            while (p < x->nvars || q < y->nvars) {
                if (q == y->nvars || (p < x->nvars && x->vars[p]->id <= y->vars[q]->id))
                    t.vars[t.nvars++] = x->vars[p++];
                else
                    t.vars[t.nvars++] = y->vars[q++];
            }
            if (!dim_add_term(&r, &t)) return false;
        }
    }
    *out = r;
    return true;
}

bool dim_eq(const Dim *a, const Dim *b) {
    if (a->nterms != b->nterms) return false;
    for (int i = 0; i < a->nterms; i++)
        if (a->terms[i].coef != b->terms[i].coef || term_cmp(&a->terms[i], &b->terms[i]) != 0)
            return false;
    return true;
}

bool dim_is_const(const Dim *d, long *value) {
    if (d->nterms == 0) {
        if (value) *value = 0;
        return true;
    }
    if (d->nterms == 1 && d->terms[0].nvars == 0) {
        if (value) *value = d->terms[0].coef;
        return true;
    }
    return false;
}

void dim_print(const Dim *d, StrBuf *out) {
    if (d->nterms == 0) {
        sb_puts(out, "0");
        return;
    }
    /* variables first reads as written: `2*B + 1` rather than `1 + 2*B` */
    for (int k = d->nterms - 1, first = 1; k >= 0; k--, first = 0) {
        const DimTerm *t = &d->terms[k];
        long c = t->coef;
        if (!first) {
            sb_puts(out, c < 0 ? " - " : " + ");
            if (c < 0) c = -c;
        }
        if (t->nvars == 0) {
            sb_printf(out, "%ld", c);
            continue;
        }
        if (c == -1) sb_puts(out, "-");
        else if (c != 1) sb_printf(out, "%ld*", c);
        for (int v = 0; v < t->nvars; v++) sb_printf(out, "%s%s", v ? "*" : "", t->vars[v]->name);
    }
}

const Dim *dim_env_get(const DimEnv *env, const DimSym *s) {
    for (int i = 0; i < env->items.len; i++)
        if (env->items.items[i].sym == s) return &env->items.items[i].value;
    return NULL;
}

bool dim_subst(Dim *out, const Dim *d, const DimEnv *env, const Item *only_owner, bool *complete) {
    Dim r = {0};
    if (complete) *complete = true;
    for (int i = 0; i < d->nterms; i++) {
        const DimTerm *t = &d->terms[i];
        Dim prod = dim_const(t->coef);
        for (int v = 0; v < t->nvars; v++) {
            const Dim *val = dim_env_get(env, t->vars[v]);
            Dim factor;
            if (val) {
                factor = *val;
            } else {
                if (complete && (!only_owner || t->vars[v]->owner == only_owner)) *complete = false;
                factor = dim_sym(t->vars[v]);
            }
            if (!dim_mul(&prod, &prod, &factor)) return false;
        }
        if (!dim_add(&r, &r, &prod)) return false;
    }
    *out = r;
    return true;
}

/* ----------------------------------------------------------------- types */

Type *type_error(Arena *a) {
    Type *t = arena_alloc(a, sizeof *t);
    t->kind = TY_ERROR;
    return t;
}

Type *type_tensor(Arena *a, DType dt, int rank, const Dim *dims) {
    Type *t = arena_alloc(a, sizeof *t);
    t->kind = TY_TENSOR;
    t->dtype = dt;
    t->rank = rank;
    t->dims = arena_alloc(a, sizeof(Dim) * (size_t)(rank ? rank : 1));
    if (rank && dims) memcpy(t->dims, dims, sizeof(Dim) * (size_t)rank);
    return t;
}

Type *type_scalar(Arena *a, DType dt) { return type_tensor(a, dt, 0, NULL); }

bool type_is_scalar(const Type *t) {
    return t->kind == TY_ERROR || (t->kind == TY_TENSOR && t->rank == 0 && !t->ellipsis);
}

void type_print(const Type *t, StrBuf *out) {
    switch (t->kind) {
    case TY_ERROR: sb_puts(out, "<error>"); return;
    case TY_STR: sb_puts(out, "string"); return;
    case TY_LIST: sb_puts(out, "list"); return;
    case TY_NONE: sb_puts(out, "<not a value>"); return;
    case TY_TUPLE:
        sb_puts(out, "(");
        for (int i = 0; i < t->elems.len; i++) {
            if (i) sb_puts(out, ", ");
            type_print(t->elems.items[i], out);
        }
        sb_puts(out, ")");
        return;
    case TY_TENSOR: break;
    }
    if (t->dtype == DT_I32) sb_puts(out, "i32");
    sb_puts(out, "[");
    if (t->ellipsis) sb_puts(out, t->rank ? "..., " : "...");
    for (int i = 0; i < t->rank; i++) {
        if (i) sb_puts(out, ", ");
        dim_print(&t->dims[i], out);
    }
    sb_puts(out, "]");
}

const char *type_str(Arena *a, const Type *t) {
    StrBuf sb = {0};
    type_print(t, &sb);
    const char *s = arena_strdup(a, sb.data ? sb.data : "");
    sb_free(&sb);
    return s;
}

static bool dim_is_one(const Dim *d) {
    long v;
    return dim_is_const(d, &v) && v == 1;
}

Type *type_broadcast(Arena *a, const Type *x, const Type *y, int *bad_axis) {
    if (x->kind == TY_ERROR) return (Type *)x;
    if (y->kind == TY_ERROR) return (Type *)y;
    int rank = x->rank > y->rank ? x->rank : y->rank;
    Type *r = type_tensor(a, x->dtype, rank, NULL);
    r->ellipsis = x->ellipsis || y->ellipsis;
    for (int k = 1; k <= rank; k++) {
        const Dim *dx = k <= x->rank ? &x->dims[x->rank - k] : NULL;
        const Dim *dy = k <= y->rank ? &y->dims[y->rank - k] : NULL;
        Dim *dr = &r->dims[rank - k];
        if (!dx) *dr = *dy;
        else if (!dy) *dr = *dx;
        else if (dim_eq(dx, dy) || dim_is_one(dy)) *dr = *dx;
        else if (dim_is_one(dx)) *dr = *dy;
        else {
            if (bad_axis) *bad_axis = k;
            return NULL;
        }
    }
    return r;
}
