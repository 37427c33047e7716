/* check_dims.c — division in dims (rl-language.md §8.1): `D / H` (exact) and
 * `D // H` (floor).
 *
 * A quotient of known integers is folded at once (a remainder of `/` is an
 * error at the `/`). One that mentions symbols (`(H + 2*padding - k) // stride
 * + 1` in a layer's signature) becomes a symbol of its own, a SYM_QUOT owned by
 * the function: equal quotients (same canonical numerator, denominator and kind)
 * are the same symbol, so the conv2d a layer's body computes and the result its
 * signature states compare equal. At each call the callee's quotients get values
 * from the call's bindings, in the order they were made (an inner quotient
 * before an outer one), exactly as the size variables do.
 */
#include "sema_impl.h"

#include <string.h>

static const char *dim_text(Arena *a, const Dim *d) {
    StrBuf sb = {0};
    dim_print(d, &sb);
    const char *s = arena_strdup(a, sb.data ? sb.data : "");
    sb_free(&sb);
    return s;
}

/* Python's floor division of integers. */
static long floor_div(long x, long y) {
    long q = x / y;
    if (x % y != 0 && (x < 0) != (y < 0)) q--;
    return q;
}

static const DimSym *quotient_sym(Arena *a, Item *owner, const Dim *num, const Dim *den, bool floor_div_kind,
                                  bool soft, Span at) {
    struct SemaItem *s = sema_item(a, owner);
    for (int i = 0; i < s->quots.len; i++) {
        DimSym *q = s->quots.items[i];
        if (q->floor_div == floor_div_kind && dim_eq(q->num, num) && dim_eq(q->den, den)) {
            if (!soft && q->soft) {
                q->soft = false;
                q->at = at;
            }
            return q;
        }
    }
    bool group = num->nterms > 1, group_den = den->nterms > 1 || (den->nterms == 1 && den->terms[0].nvars > 1);
    const char *name = arena_printf(a, "%s%s%s %s %s%s%s", group ? "(" : "", dim_text(a, num), group ? ")" : "",
                                    floor_div_kind ? "//" : "/", group_den ? "(" : "", dim_text(a, den),
                                    group_den ? ")" : "");
    DimSym *q = sema_new_sym(a, SYM_QUOT, name, owner, -1);
    Dim *n = arena_alloc(a, sizeof *n), *d = arena_alloc(a, sizeof *d);
    *n = *num;
    *d = *den;
    q->num = n;
    q->den = d;
    q->floor_div = floor_div_kind;
    q->soft = soft;
    q->at = at;
    vec_push(a, &s->quots, q);
    return q;
}

bool sema_dim_div(Arena *a, Diags *d, Item *owner, Dim *out, const Dim *num, const Dim *den, bool floor_div_kind,
                  bool soft, Span at) {
    long dv, nv;
    if (dim_is_const(den, &dv)) {
        if (dv == 0) {
            diag_error(d, at, "division by zero in a dim");
            return false;
        }
        if (dim_is_const(num, &nv)) {
            if (!floor_div_kind && nv % dv != 0) {
                diag_error(d, at, "%ld / %ld leaves a remainder of %ld: `/` of dims must be exact (`//` rounds down)",
                           nv, dv, nv - floor_div(nv, dv) * dv);
                return false;
            }
            *out = dim_const(floor_div(nv, dv));
            return true;
        }
        /* every coefficient a multiple: `2*B / 2` is B for both kinds */
        bool whole = true;
        for (int i = 0; i < num->nterms; i++) whole &= num->terms[i].coef % dv == 0;
        if (whole) {
            *out = *num;
            for (int i = 0; i < out->nterms; i++) out->terms[i].coef /= dv;
            return true;
        }
    }
    if (!owner) {
        diag_error(d, at, "this division needs dims known here");
        return false;
    }
    *out = dim_sym(quotient_sym(a, owner, num, den, floor_div_kind, soft, at));
    return true;
}

void sema_dim_used_as_size(Item *owner, const Dim *d) {
    struct SemaItem *s = owner ? owner->sema : NULL;
    if (!s) return;
    for (int t = 0; t < d->nterms; t++)
        for (int v = 0; v < d->terms[t].nvars; v++)
            for (int i = 0; i < s->quots.len; i++)
                if (s->quots.items[i] == d->terms[t].vars[v]) s->quots.items[i]->soft = false;
}

bool sema_bind_quotients(Arena *a, Diags *d, Item *callee, Item *caller, DimEnv *env, Span call) {
    struct SemaItem *s = callee->sema;
    if (!s) return true;
    for (int i = 0; i < s->quots.len; i++) {
        const DimSym *q = s->quots.items[i];
        Dim num, den, val;
        bool num_done, den_done;
        if (!dim_subst(&num, q->num, env, callee, &num_done) || !dim_subst(&den, q->den, env, callee, &den_done))
            return false;
        if (!num_done || !den_done) continue;   /* not needed for what this call binds */
        long nv, dv;
        /* a soft quotient that is not exact here was a number, not a dim: left unbound */
        if (q->soft && dim_is_const(&num, &nv) && dim_is_const(&den, &dv) && (dv == 0 || nv % dv != 0)) continue;
        /* known here: the caller chose the numbers, so the error is at the call */
        if (!q->floor_div && dim_is_const(&num, &nv) && dim_is_const(&den, &dv) && dv != 0 && nv % dv != 0) {
            diag_error(d, call, "this call of `%s` divides %s = %ld by %s = %ld, which leaves a remainder of %ld: "
                       "`/` of dims must be exact (`//` rounds down)", callee->name, dim_text(a, q->num), nv,
                       dim_text(a, q->den), dv, nv - floor_div(nv, dv) * dv);
            diag_note(d, q->at, "the division it reaches");
            return false;
        }
        int before = d->items.len;
        if (!sema_dim_div(a, d, caller, &val, &num, &den, q->floor_div, false, q->at)) {
            if (d->items.len != before)
                diag_note(d, call, "with the dims of this call of `%s`: %s %s %s", callee->name,
                          dim_text(a, &num), q->floor_div ? "//" : "/", dim_text(a, &den));
            return false;
        }
        DimBinding b = {q, val, q->name};
        vec_push(a, &env->items, b);
    }
    return true;
}
