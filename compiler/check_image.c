/* check_image.c — the shape rules of the image built-ins (rl-language.md §8.2):
 * conv2d, conv_transpose2d, max_pool2d, avg_pool2d, upsample2d, global_avg_pool
 * and dropout. check.c has given every argument its type; this file reads the
 * integers (dims: constants, or a layer's `int` arguments and hypers as
 * symbols) and states the result. Output sizes divide with floor (check_dims.c):
 * inside a generic layer they stay quotient symbols and are checked at each call
 * (check.c, result_sizes_positive); with known sizes a window that does not fit
 * is an error here.
 */
#include "sema_impl.h"

#include <string.h>

typedef struct ImageCheck {
    Arena *a;
    Diags *d;
    Item *fn;
    Expr *call;
    const char *name;
    bool too_big;      /* a dim did not fit the polynomial form (reported once, at the end) */
} ImageCheck;

static const char *type_text(ImageCheck *ic, const Type *t) { return type_str(ic->a, t); }

static const char *dim_text(ImageCheck *ic, const Dim *d) {
    StrBuf sb = {0};
    dim_print(d, &sb);
    const char *s = arena_strdup(ic->a, sb.data ? sb.data : "");
    sb_free(&sb);
    return s;
}

/* The argument at position `pos` or named `name`; NULL when absent. */
static Expr *arg(ImageCheck *ic, int pos, const char *name) {
    int k = 0;
    for (int i = 0; i < ic->call->args.len; i++) {
        Arg *ar = &ic->call->args.items[i];
        if (ar->name ? name && strcmp(ar->name, name) == 0 : k++ == pos) return ar->value;
    }
    return NULL;
}

/* An integer argument as a dim (default `dflt` when absent); `min` is checked when it is known. */
static bool int_arg(ImageCheck *ic, int pos, const char *name, Dim dflt, long min, Dim *out) {
    Expr *e = arg(ic, pos, name);
    if (!e) {
        *out = dflt;
        return true;
    }
    if (e->type->kind == TY_ERROR) return false;
    if (e->type->kind != TY_TENSOR || !e->type->has_dim) {
        diag_error(ic->d, e->span, "`%s` of `%s` must be an integer known at compile time", name, ic->name);
        return false;
    }
    long v;
    if (dim_is_const(&e->type->dim, &v) && v < min) {
        diag_error(ic->d, e->span, "`%s` of `%s` must be at least %ld, not %ld", name, ic->name, min, v);
        return false;
    }
    *out = e->type->dim;
    return true;
}

/* x: f32 [B, C, H, W]. */
static bool image(ImageCheck *ic, Expr *e, const char *what) {
    const Type *t = e->type;
    if (t->kind == TY_ERROR) return false;
    if (t->kind != TY_TENSOR || t->ellipsis || t->rank != 4 || (t->dtype == DT_I32 && !t->weak)) {
        diag_error(ic->d, e->span, "`%s` needs %s of f32 [B, C, H, W], not %s", ic->name, what, type_text(ic, t));
        return false;
    }
    return true;
}

/* Dim arithmetic for the size formulas; a result that does not fit sets too_big. */
static Dim add(ImageCheck *ic, Dim x, Dim y) {
    Dim r;
    if (dim_add(&r, &x, &y)) return r;
    ic->too_big = true;
    return x;
}
static Dim sub(ImageCheck *ic, Dim x, Dim y) {
    Dim r;
    if (dim_sub(&r, &x, &y)) return r;
    ic->too_big = true;
    return x;
}
static Dim mul(ImageCheck *ic, Dim x, Dim y) {
    Dim r;
    if (dim_mul(&r, &x, &y)) return r;
    ic->too_big = true;
    return x;
}
static Dim num(long v) { return dim_const(v); }

/* (len + 2 pad - dil (k - 1) - 1) // stride + 1, or an error at the call when it is known and < 1. */
static bool window_out(ImageCheck *ic, Dim len, Dim k, Dim stride, Dim pad, Dim dil, const char *axis, Dim *out) {
    Dim span = sub(ic, sub(ic, add(ic, len, mul(ic, num(2), pad)), mul(ic, dil, sub(ic, k, num(1)))), num(1));
    if (ic->too_big) return true;   /* reported by sema_check_image */
    Dim q;
    if (!sema_dim_div(ic->a, ic->d, ic->fn, &q, &span, &stride, true, false, ic->call->span)) return false;
    *out = add(ic, q, num(1));
    long v;
    if (dim_is_const(out, &v) && v < 1) {
        diag_error(ic->d, ic->call->span,
                   "`%s`: the window (%s, dilation %s) is larger than the padded input: %s %s with padding %s",
                   ic->name, dim_text(ic, &k), dim_text(ic, &dil), axis, dim_text(ic, &len), dim_text(ic, &pad));
        return false;
    }
    return true;
}

static Type *result4(ImageCheck *ic, Dim b, Dim c, Dim h, Dim w) {
    Dim d[4] = {b, c, h, w};
    return type_tensor(ic->a, DT_F32, 4, d);
}

static Type *check_conv(ImageCheck *ic, bool transposed) {
    Expr *x = arg(ic, 0, NULL), *w = arg(ic, 1, NULL);
    if (!image(ic, x, "an input") || !image(ic, w, "a weight")) return type_error(ic->a);
    const Dim *xd = x->type->dims, *wd = w->type->dims;
    /* conv2d: w [O, C, KH, KW]; conv_transpose2d: w [C, O, KH, KW] */
    const Dim *wc = transposed ? &wd[0] : &wd[1], *wo = transposed ? &wd[1] : &wd[0];
    if (!dim_eq(&xd[1], wc)) {
        diag_error(ic->d, ic->call->span, "`%s`: the input has %s channels but the weight %s expects %s (%s)",
                   ic->name, dim_text(ic, &xd[1]), type_text(ic, w->type), dim_text(ic, wc),
                   transposed ? "[C, O, KH, KW]" : "[O, C, KH, KW]");
        return type_error(ic->a);
    }
    Dim stride, pad, extra;
    if (!int_arg(ic, 2, "stride", num(1), 1, &stride) || !int_arg(ic, 3, "padding", num(0), 0, &pad))
        return type_error(ic->a);
    if (!transposed) {
        Dim dil, h, v;
        if (!int_arg(ic, 4, "dilation", num(1), 1, &dil) ||
            !window_out(ic, xd[2], wd[2], stride, pad, dil, "height", &h) ||
            !window_out(ic, xd[3], wd[3], stride, pad, dil, "width", &v))
            return type_error(ic->a);
        return result4(ic, xd[0], *wo, h, v);
    }
    if (!int_arg(ic, 4, "output_padding", num(0), 0, &extra)) return type_error(ic->a);
    long s, op;
    if (dim_is_const(&stride, &s) && dim_is_const(&extra, &op) && op >= s) {
        diag_error(ic->d, arg(ic, 4, "output_padding")->span,
                   "`output_padding` of `%s` must be smaller than the stride %ld, not %ld", ic->name, s, op);
        return type_error(ic->a);
    }
    /* (H - 1) stride - 2 padding + KH + output_padding */
    Dim hw[2];
    for (int a = 0; a < 2; a++) {
        Dim grown = add(ic, mul(ic, sub(ic, xd[2 + a], num(1)), stride), wd[2 + a]);
        hw[a] = add(ic, sub(ic, grown, mul(ic, num(2), pad)), extra);
        long v;
        if (dim_is_const(&hw[a], &v) && v < 1) {
            diag_error(ic->d, ic->call->span, "`%s` would give a %s of %ld: the padding %s is too large",
                       ic->name, a ? "width" : "height", v, dim_text(ic, &pad));
            return type_error(ic->a);
        }
    }
    return result4(ic, xd[0], *wo, hw[0], hw[1]);
}

static Type *check_pool(ImageCheck *ic) {
    Expr *x = arg(ic, 0, NULL);
    if (!image(ic, x, "an input")) return type_error(ic->a);
    const Dim *xd = x->type->dims;
    Dim k, stride, pad, h, w;
    if (!int_arg(ic, 1, "k", num(1), 1, &k) || !int_arg(ic, 2, "stride", k, 1, &stride) ||
        !int_arg(ic, 3, "padding", num(0), 0, &pad))
        return type_error(ic->a);
    long kv, pv;
    if (dim_is_const(&k, &kv) && dim_is_const(&pad, &pv) && 2 * pv > kv) {
        diag_error(ic->d, arg(ic, 3, "padding")->span,
                   "`padding` of `%s` must be at most half the window (%ld), not %ld", ic->name, kv, pv);
        return type_error(ic->a);
    }
    if (!window_out(ic, xd[2], k, stride, pad, num(1), "height", &h) ||
        !window_out(ic, xd[3], k, stride, pad, num(1), "width", &w))
        return type_error(ic->a);
    return result4(ic, xd[0], xd[1], h, w);
}

static Type *image_result(ImageCheck *ic, BuiltinId id);

Type *sema_check_image(Arena *a, Diags *d, Item *fn, Expr *call, BuiltinId id) {
    ImageCheck ic = {a, d, fn, call, sema_builtin_by_id(id)->name, false};
    Type *r = image_result(&ic, id);
    if (ic.too_big && r->kind != TY_ERROR) {
        diag_error(d, call->span, "the sizes of this `%s` are too large or have too many terms", ic.name);
        return type_error(a);
    }
    return r;
}

/* A number argument known at compile time (default `dflt` when absent), in [lo, hi]. */
static bool real_arg(ImageCheck *ic, int pos, const char *name, double dflt, double lo, double hi, double *out) {
    Expr *e = arg(ic, pos, name);
    *out = dflt;
    if (!e) return true;
    if (e->type->kind == TY_ERROR) return false;
    if (e->type->kind != TY_TENSOR || !e->type->has_value || e->type->rank != 0) {
        diag_error(ic->d, e->span, "`%s` of `%s` must be a number known at compile time", name, ic->name);
        return false;
    }
    *out = e->type->value;
    if (!(*out >= lo && *out <= hi)) {
        diag_error(ic->d, e->span, "`%s` of `%s` must lie in [%g, %g], not %g", name, ic->name, lo, hi, *out);
        return false;
    }
    return true;
}

/* batch_norm(x, momentum, eps): x f32 [B, C, H, W] or [B, D]; the result has x's shape. */
static Type *check_batch_norm(ImageCheck *ic) {
    Expr *x = arg(ic, 0, NULL);
    const Type *t = x->type;
    if (t->kind == TY_ERROR) return type_error(ic->a);
    if (t->kind != TY_TENSOR || t->ellipsis || (t->rank != 2 && t->rank != 4) || (t->dtype == DT_I32 && !t->weak)) {
        diag_error(ic->d, x->span, "`batch_norm` needs f32 [B, C, H, W] or [B, D], not %s", type_text(ic, t));
        return type_error(ic->a);
    }
    double momentum, eps;
    if (!real_arg(ic, 1, "momentum", 0.1, 0, 1, &momentum) || !real_arg(ic, 2, "eps", 1e-5, 0, 1, &eps))
        return type_error(ic->a);
    return type_tensor(ic->a, DT_F32, t->rank, t->dims);
}

static Type *image_result(ImageCheck *ic, BuiltinId id) {
    Arena *a = ic->a;
    Diags *d = ic->d;
    Expr *x = arg(ic, 0, NULL);
    switch (id) {
    case BI_CONV2D: return check_conv(ic, false);
    case BI_CONV_TRANSPOSE2D: return check_conv(ic, true);
    case BI_MAX_POOL2D:
    case BI_AVG_POOL2D: return check_pool(ic);
    case BI_UPSAMPLE2D: {
        Dim f;
        if (!image(ic, x, "an input") || !int_arg(ic, 1, "factor", num(1), 1, &f)) return type_error(a);
        const Dim *xd = x->type->dims;
        return result4(ic, xd[0], xd[1], mul(ic, xd[2], f), mul(ic, xd[3], f));
    }
    case BI_GLOBAL_AVG_POOL: {
        if (!image(ic, x, "an input")) return type_error(a);
        return type_tensor(a, DT_F32, 2, x->type->dims);
    }
    case BI_DROPOUT: {
        Expr *p = arg(ic, 1, NULL);
        if (x->type->kind == TY_ERROR || p->type->kind == TY_ERROR) return type_error(a);
        if (x->type->kind != TY_TENSOR || (x->type->dtype == DT_I32 && !x->type->weak)) {
            diag_error(d, x->span, "`dropout` needs an f32 tensor, not %s", type_text(ic, x->type));
            return type_error(a);
        }
        if (p->type->kind != TY_TENSOR || !p->type->has_value || p->type->rank != 0) {
            diag_error(d, p->span, "`p` of `dropout` must be a number known at compile time");
            return type_error(a);
        }
        double pv = p->type->value;
        if (!(pv >= 0 && pv < 1)) {
            diag_error(d, p->span, "`p` of `dropout` is a probability in [0, 1), not %g", pv);
            return type_error(a);
        }
        Type *r = type_tensor(a, DT_F32, x->type->rank, x->type->dims);
        r->ellipsis = x->type->ellipsis;
        return r;
    }
    case BI_BATCH_NORM: return check_batch_norm(ic);
    default: return type_error(a);
    }
}
