/* check_builtin.c — the shape and dtype rules of the built-in functions
 * (rl-language.md §5): elementwise, reductions, shape, random. */
#include "check_impl.h"
#include "einsum.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ built-ins */

static const Builtin builtins[BI_COUNT] = {
    {BI_EXP, "exp", 1, 1, {0}, false, false},
    {BI_LOG, "log", 1, 1, {0}, false, false},
    {BI_SQRT, "sqrt", 1, 1, {0}, false, false},
    {BI_ABS, "abs", 1, 1, {0}, false, false},
    {BI_TANH, "tanh", 1, 1, {0}, false, false},
    {BI_SIGMOID, "sigmoid", 1, 1, {0}, false, false},
    {BI_RELU, "relu", 1, 1, {0}, false, false},
    {BI_MAX, "max", 1, 2, {"axis", "keepdims"}, false, false},
    {BI_MIN, "min", 1, 2, {"axis", "keepdims"}, false, false},
    {BI_WHERE, "where", 3, 3, {0}, false, false},
    {BI_FLOAT, "float", 1, 1, {0}, false, false},
    {BI_SUM, "sum", 1, 1, {"axis", "keepdims"}, false, false},
    {BI_MEAN, "mean", 1, 1, {"axis", "keepdims"}, false, false},
    {BI_LOGSUMEXP, "logsumexp", 1, 1, {"axis", "keepdims"}, false, false},
    {BI_ARGMAX, "argmax", 1, 1, {"axis", "keepdims"}, false, true},
    {BI_RESHAPE, "reshape", 2, 2, {0}, false, false},
    {BI_CONCAT, "concat", 2, 2, {"axis"}, false, false},
    {BI_ONE_HOT, "one_hot", 2, 2, {0}, false, false},
    {BI_ARANGE, "arange", 1, 1, {0}, false, true},
    {BI_TRANSPOSE, "transpose", 2, 2, {0}, false, false},
    {BI_BERNOULLI, "bernoulli", 2, 2, {0}, true, true},
    {BI_NORMAL, "normal", 3, 3, {0}, true, true},
    {BI_UNIFORM, "uniform", 3, 3, {0}, true, true},
    {BI_RANDINT, "randint", 3, 3, {0}, true, true},
    {BI_SHIFT2D, "shift2d", 4, 4, {0}, true, true},
    {BI_STOP_GRADIENT, "stop_gradient", 1, 1, {0}, false, true},
    {BI_CONV2D, "conv2d", 2, 5, {"stride", "padding", "dilation"}, false, false},
    {BI_CONV_TRANSPOSE2D, "conv_transpose2d", 2, 5, {"stride", "padding", "output_padding"}, false, false},
    {BI_MAX_POOL2D, "max_pool2d", 2, 4, {"stride", "padding"}, false, false},
    {BI_AVG_POOL2D, "avg_pool2d", 2, 4, {"stride", "padding"}, false, false},
    {BI_UPSAMPLE2D, "upsample2d", 2, 2, {0}, false, false},
    {BI_GLOBAL_AVG_POOL, "global_avg_pool", 1, 1, {0}, false, false},
    /* random, but the one random op a layer may reach (§8.2): not `random` here */
    {BI_DROPOUT, "dropout", 2, 2, {0}, false, false},
    /* a layer with parameters and state, built in: its one signature covers [B, C, H, W] and [B, D] */
    {BI_BATCH_NORM, "batch_norm", 1, 3, {"momentum", "eps"}, false, false},
    {BI_EINSUM, "einsum", 3, 3, {0}, false, false},
};

const Builtin *sema_builtin(const char *name) {
    for (int i = 0; i < BI_COUNT; i++)
        if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
    return NULL;
}

const Builtin *sema_builtin_by_id(BuiltinId id) { return &builtins[id]; }

const CallInfo *sema_call_info(const Expr *call) { return call->call; }

/* ----------------------------------------------------------- built-ins */

/* batch_norm holds parameters like a layer: allowed where a layer call is, and it
 * makes its caller a holder of parameters (check.c, roles through calls). */
static bool layer_call_allowed(Checker *c, Expr *e) {
    Item *fn = c->fn;
    if (fn->kind == ITEM_FUNC && (fn->role == ROLE_FN || fn->role == ROLE_PRETEXT || fn->role == ROLE_LOSS)) {
        diag_error(c->d, e->span, "%s `%s` may not have parameters, but `batch_norm` has them",
                   ast_role_name(fn->role), fn->name);
        return false;
    }
    if (fn->sema && !fn->sema->has_param) {
        fn->sema->has_param = true;
        fn->sema->param_at = e->span;
    }
    return true;
}

static bool want_f32(Checker *c, Expr *e, const char *fname) {
    Type *t = e->type;
    if (t->kind == TY_TENSOR && t->dtype == DT_I32 && !t->weak) {
        diag_error(c->d, e->span, "`%s` needs f32, but this is %s: convert with float(...)", fname, ty(c, t));
        return false;
    }
    return true;
}

Type *copy_type(Checker *c, const Type *t) {
    Type *r = type_tensor(c->a, t->dtype, t->rank, t->dims);
    r->ellipsis = t->ellipsis;
    return r;
}

/* `axis = k`, checked against the rank; *axis = -1 - rank when absent. */
static bool get_axis(Checker *c, Expr *e, const Type *t, int *axis, bool *given) {
    *given = false;
    for (int i = 0; i < e->args.len; i++) {
        Arg *ar = &e->args.items[i];
        if (!ar->name || strcmp(ar->name, "axis") != 0) continue;
        Type *at = value_of(c, ar->value);
        if (at->kind == TY_ERROR) return false;
        long k;
        if (!is_int_value(at, &k)) {
            diag_error(c->d, ar->value->span, "`axis` must be a compile-time integer");
            return false;
        }
        if (k < -t->rank || k >= t->rank || (t->ellipsis && k >= 0)) {
            diag_error(c->d, ar->value->span, "axis %ld is out of range for %s", k, ty(c, t));
            return false;
        }
        *axis = (int)(k < 0 ? k + t->rank : k);
        *given = true;
    }
    return true;
}

/* `keepdims = true` or `false` (absent: false). Only the literals: a flag that
 * changes the result's rank must be visible where it is written. */
static bool get_keepdims(Checker *c, Expr *e, bool *keep) {
    *keep = false;
    for (int i = 0; i < e->args.len; i++) {
        Arg *ar = &e->args.items[i];
        if (!ar->name || strcmp(ar->name, "keepdims") != 0) continue;
        if (ar->value->kind != EX_BOOL) {
            diag_error(c->d, ar->value->span, "`keepdims` must be the literal true or false");
            return false;
        }
        *keep = ar->value->num != 0;
    }
    return true;
}

/* A reduction over `axis` (or everything): the axis is dropped, or kept with size 1
 * under keepdims so the result broadcasts back against x (numpy's rule). */
static Type *reduce(Checker *c, Expr *e, Type *x, DType out) {
    int axis;
    bool given, keep;
    if (!get_axis(c, e, x, &axis, &given) || !get_keepdims(c, e, &keep)) return type_error(c->a);
    if (keep) {
        if (!given && x->ellipsis) {
            diag_error(c->d, e->span, "`keepdims` needs an `axis` here: the `...` axes of %s are unknown", ty(c, x));
            return type_error(c->a);
        }
        Type *r = copy_type(c, x);
        r->dtype = out;
        for (int i = 0; i < x->rank; i++)
            if (!given || i == axis) r->dims[i] = dim_const(1);
        return r;
    }
    if (!given) return type_scalar(c->a, out);
    Type *r = type_tensor(c->a, out, x->rank - 1, NULL);
    r->ellipsis = x->ellipsis;
    for (int i = 0, j = 0; i < x->rank; i++)
        if (i != axis) r->dims[j++] = x->dims[i];
    return r;
}

/* A shape argument `[B, D]`: each entry an integer known at compile time. */
static Type *shape_arg(Checker *c, Expr *e, DType dt) {
    if (e->kind != EX_LIST) {
        diag_error(c->d, e->span, "expected a shape such as [B, 784]");
        return type_error(c->a);
    }
    Type *t = type_tensor(c->a, dt, e->args.len, NULL);
    for (int i = 0; i < e->args.len; i++) {
        Type *d = value_of(c, e->args.items[i].value);
        if (d->kind == TY_ERROR) return d;
        if (!d->has_dim) {
            diag_error(c->d, e->args.items[i].value->span, "a dim of a shape must be a compile-time integer");
            return type_error(c->a);
        }
        t->dims[i] = d->dim;
        sema_dim_used_as_size(c->fn, &d->dim);
    }
    return t;
}

Type *binary_shape(Checker *c, Expr *at, const Type *x, const Type *y, const char *what) {
    int bad;
    Type *r = type_broadcast(c->a, x, y, &bad);
    if (!r) {
        diag_error(c->d, at->span, "shapes %s and %s do not broadcast in %s", ty(c, x), ty(c, y), what);
        return NULL;
    }
    return r;
}

DType join_dtype(const Type *x, const Type *y) {
    if (x->weak && !y->weak) return y->dtype;
    if (y->weak && !x->weak) return x->dtype;
    if (x->weak && y->weak) return x->dtype == DT_I32 && y->dtype == DT_I32 ? DT_I32 : DT_F32;
    return x->dtype;
}

static void mark_random(Checker *c, Expr *e) {
    Item *fn = c->fn;
    if (!fn) return;
    if (fn->kind == ITEM_FUNC && fn->role != ROLE_PRETEXT) {
        diag_error(c->d, e->span, "`%s` draws random numbers: only pretext and stage bodies may, not %s `%s`",
                   e->callee->str, ast_role_name(fn->role), fn->name);
        return;
    }
    if (!fn->sema->has_random) fn->sema->random_at = e->span;
    fn->sema->has_random = true;
}

/* The arguments of a random source known at compile time, against what the
 * distribution accepts: a probability in [0, 1], a std of 0 or more, bounds
 * in order (randint's hi is exclusive, so it must pass lo). */
static bool random_args_in_domain(Checker *c, const Builtin *b, Expr *const *pos) {
    const Type *a = pos[0]->type, *z = pos[1]->type;
    switch (b->id) {
    case BI_BERNOULLI:
        if (a->has_value && !(a->value >= 0 && a->value <= 1)) {
            diag_error(c->d, pos[0]->span, "`bernoulli` needs a probability in [0, 1], not %g", a->value);
            return false;
        }
        return true;
    case BI_NORMAL:
        if (z->has_value && !(z->value >= 0 && isfinite(z->value))) {
            diag_error(c->d, pos[1]->span, "`normal` needs a standard deviation of 0 or more, not %g", z->value);
            return false;
        }
        return true;
    case BI_UNIFORM: case BI_RANDINT:
        if (a->has_value && z->has_value && (b->id == BI_RANDINT ? !(z->value > a->value) : !(z->value >= a->value))) {
            diag_error(c->d, pos[1]->span, "`%s` needs lo %s hi, not lo = %g and hi = %g", b->name,
                       b->id == BI_RANDINT ? "<" : "<=", a->value, z->value);
            return false;
        }
        return true;
    default: return true;
    }
}

/* einsum(spec, a, b): the spec parses, each operand has one letter per axis, a
 * letter names one size wherever it appears; the result has the output's letters. */
static Type *check_einsum(Checker *c, Expr **pos) {
    Expr *se = pos[0];
    if (se->kind != EX_STR) {
        diag_error(c->d, se->span, "`einsum` takes its spec in quotes first, as in einsum(\"ij,jk->ik\", a, b)");
        return type_error(c->a);
    }
    EinsumSpec s;
    char why[512];
    if (!einsum_parse(se->str, &s, why, sizeof why)) {
        diag_error(c->d, se->span, "%s", why);
        return type_error(c->a);
    }
    static const char *const nth[2] = {"first", "second"};
    Dim size[128];
    int from[128];
    for (int l = 0; l < 128; l++) from[l] = -1;
    for (int t = 0; t < 2; t++) {
        Expr *oe = pos[1 + t];
        const Type *x = oe->type;
        if (!want_f32(c, oe, "einsum")) return type_error(c->a);
        if (x->kind != TY_TENSOR || x->ellipsis || x->rank != s.rank[t]) {
            diag_error(c->d, oe->span, "einsum spec \"%s\" gives the %s operand %d axes (`%.*s`), but it is %s",
                       se->str, nth[t], s.rank[t], s.rank[t], s.letter[t], ty(c, x));
            return type_error(c->a);
        }
        for (int i = 0; i < x->rank; i++) {
            int l = (unsigned char)s.letter[t][i];
            if (from[l] < 0) {
                size[l] = x->dims[i];
                from[l] = t;
            } else if (!dim_eq(&size[l], &x->dims[i])) {
                StrBuf a = {0}, b = {0};
                dim_print(&size[l], &a);
                dim_print(&x->dims[i], &b);
                diag_error(c->d, oe->span, "einsum spec \"%s\": `%c` is %s in the %s operand but %s in the %s", se->str,
                           l, a.data, nth[from[l]], b.data, nth[t]);
                sb_free(&a);
                sb_free(&b);
                return type_error(c->a);
            }
        }
    }
    Type *r = type_tensor(c->a, DT_F32, s.rank[2], NULL);
    for (int i = 0; i < s.rank[2]; i++) r->dims[i] = size[(unsigned char)s.letter[2][i]];
    return r;
}

Type *check_builtin(Checker *c, Expr *e, const Builtin *b) {
    int npos = 0;
    Expr *pos[5] = {0};
    for (int i = 0; i < e->args.len; i++) {
        Arg *ar = &e->args.items[i];
        if (!ar->name) {
            if (npos < 5) pos[npos] = ar->value;
            npos++;
            continue;
        }
        bool ok = false;
        for (int k = 0; k < 3 && b->named[k]; k++) ok |= strcmp(b->named[k], ar->name) == 0;
        if (!ok) {
            diag_error(c->d, ar->span, "`%s` has no argument `%s`", b->name, ar->name);
            return type_error(c->a);
        }
    }
    if (npos < b->min_args || npos > b->max_args) {
        if (b->min_args == b->max_args)
            diag_error(c->d, e->span, "`%s` takes %d argument%s, not %d", b->name, b->min_args,
                       b->min_args == 1 ? "" : "s", npos);
        else
            diag_error(c->d, e->span, "`%s` takes %d or %d arguments, not %d", b->name, b->min_args, b->max_args,
                       npos);
        return type_error(c->a);
    }
    if (b->random) mark_random(c, e);
    /* shape and integer arguments are checked where they are read */
    bool is_shape_slot[5] = {0};
    switch (b->id) {
    case BI_RESHAPE: case BI_BERNOULLI: case BI_TRANSPOSE: is_shape_slot[1] = true; break;
    case BI_EINSUM: is_shape_slot[0] = true; break;   /* the spec, read by check_einsum */
    case BI_NORMAL: case BI_UNIFORM: case BI_RANDINT: is_shape_slot[2] = true; break;
    default: break;
    }
    for (int i = 0; i < npos; i++) {
        if (is_shape_slot[i]) continue;
        if (value_of(c, pos[i])->kind == TY_ERROR) return type_error(c->a);
    }
    Type *x = npos ? pos[0]->type : NULL;
    switch (b->id) {
    case BI_EXP: case BI_LOG: case BI_SQRT: case BI_TANH: case BI_SIGMOID:
        if (!want_f32(c, pos[0], b->name)) return type_error(c->a);
        {
            Type *r = copy_type(c, x);
            r->dtype = DT_F32;
            return r;
        }
    case BI_ABS: case BI_RELU: case BI_STOP_GRADIENT:
        return copy_type(c, x);
    case BI_FLOAT: {
        Type *r = copy_type(c, x);
        r->dtype = DT_F32;
        return r;
    }
    case BI_MAX: case BI_MIN:
        if (npos == 1) return reduce(c, e, x, x->dtype);
        if (e->args.len > npos) {
            diag_error(c->d, e->span, "`%s` of two values is elementwise: `axis` and `keepdims` belong to `%s(x)`",
                       b->name, b->name);
            return type_error(c->a);
        }
        {
            Type *y = pos[1]->type;
            if (!x->weak && !y->weak && x->dtype != y->dtype) {
                diag_error(c->d, e->span, "`%s` mixes %s and %s: convert with float(...)", b->name, ty(c, x), ty(c, y));
                return type_error(c->a);
            }
            Type *r = binary_shape(c, e, x, y, b->name);
            if (!r) return type_error(c->a);
            r->dtype = join_dtype(x, y);
            return r;
        }
    case BI_WHERE: {
        Type *y = pos[1]->type, *z = pos[2]->type;
        if (!y->weak && !z->weak && y->dtype != z->dtype) {
            diag_error(c->d, e->span, "`where` branches mix %s and %s: both i32 or both f32, convert with float(...)",
                       ty(c, y), ty(c, z));
            return type_error(c->a);
        }
        /* an i32 result would truncate a fraction silently */
        const Type *frac = y->weak && y->dtype == DT_F32 ? y : z->weak && z->dtype == DT_F32 ? z : NULL;
        if (frac && (!frac->has_value || frac->value == floor(frac->value))) frac = NULL;
        if (frac && (y->weak ? z : y)->dtype == DT_I32 && !(y->weak && z->weak)) {
            diag_error(c->d, pos[frac == y ? 1 : 2]->span, "`where` with an i32 branch takes an integer here, not %g",
                       frac->value);
            return type_error(c->a);
        }
        Type *r = binary_shape(c, e, x, y, "`where`");
        if (r) r = binary_shape(c, e, r, z, "`where`");
        if (!r) return type_error(c->a);
        r->dtype = join_dtype(y, z);
        return r;
    }
    case BI_SUM: return reduce(c, e, x, x->dtype);
    case BI_MEAN: case BI_LOGSUMEXP:
        if (!want_f32(c, pos[0], b->name)) return type_error(c->a);
        return reduce(c, e, x, DT_F32);
    case BI_ARGMAX: return reduce(c, e, x, DT_I32);
    case BI_RESHAPE: {
        Type *t = shape_arg(c, pos[1], x->dtype);
        if (t->kind == TY_ERROR) return t;
        if (x->ellipsis) {
            diag_error(c->d, pos[0]->span, "cannot reshape %s: its `...` axes are unknown here", ty(c, x));
            return type_error(c->a);
        }
        Dim nx = dim_const(1), nt = dim_const(1);
        bool fits = true;
        for (int i = 0; i < x->rank; i++) fits &= dim_mul(&nx, &nx, &x->dims[i]);
        for (int i = 0; i < t->rank; i++) fits &= dim_mul(&nt, &nt, &t->dims[i]);
        /* unequal forms are certainly unequal counts when both are single terms over
         * the same symbols (constants included); otherwise the run decides */
        if (fits && !dim_eq(&nx, &nt) && nx.nterms <= 1 && nt.nterms <= 1) {
            bool same_vars = nx.nterms == nt.nterms &&
                             (nx.nterms == 0 || (nx.terms[0].nvars == nt.terms[0].nvars &&
                                                 memcmp(nx.terms[0].vars, nt.terms[0].vars,
                                                        sizeof(void *) * (size_t)nx.terms[0].nvars) == 0));
            if (same_vars || (dim_is_const(&nx, NULL) && dim_is_const(&nt, NULL))) {
                StrBuf sx = {0}, st = {0};
                dim_print(&nx, &sx);
                dim_print(&nt, &st);
                diag_error(c->d, e->span, "cannot reshape %s (%s elements) to %s (%s elements)", ty(c, x), sx.data,
                           ty(c, t), st.data);
                sb_free(&sx);
                sb_free(&st);
                return type_error(c->a);
            }
        }
        return t;
    }
    case BI_CONCAT: {
        Type *y = pos[1]->type;
        if (x->dtype != y->dtype) {
            diag_error(c->d, e->span, "`concat` mixes %s and %s", ty(c, x), ty(c, y));
            return type_error(c->a);
        }
        if (x->rank != y->rank || x->ellipsis != y->ellipsis || x->rank == 0) {
            diag_error(c->d, e->span, "`concat` needs tensors of the same rank, not %s and %s", ty(c, x), ty(c, y));
            return type_error(c->a);
        }
        int axis;
        bool given;
        if (!get_axis(c, e, x, &axis, &given)) return type_error(c->a);
        if (!given) axis = x->rank - 1;
        Type *r = copy_type(c, x);
        for (int i = 0; i < x->rank; i++) {
            if (i == axis) {
                if (!dim_add(&r->dims[i], &x->dims[i], &y->dims[i])) {
                    diag_error(c->d, e->span, "`concat` of %s and %s: the dim is too large", ty(c, x), ty(c, y));
                    return type_error(c->a);
                }
            } else if (!dim_eq(&x->dims[i], &y->dims[i])) {
                diag_error(c->d, e->span, "`concat` along axis %d needs the other axes equal: %s and %s", axis,
                           ty(c, x), ty(c, y));
                return type_error(c->a);
            }
        }
        return r;
    }
    case BI_ONE_HOT: {
        if (x->dtype != DT_I32) {
            diag_error(c->d, pos[0]->span, "`one_hot` needs i32 labels, not %s", ty(c, x));
            return type_error(c->a);
        }
        long n;
        if (!pos[1]->type->has_dim || (dim_is_const(&pos[1]->type->dim, &n) && n <= 0)) {
            diag_error(c->d, pos[1]->span, "the size of `one_hot` must be a positive compile-time integer");
            return type_error(c->a);
        }
        Type *r = type_tensor(c->a, DT_F32, x->rank + 1, NULL);
        memcpy(r->dims, x->dims, sizeof(Dim) * (size_t)x->rank);
        r->dims[x->rank] = pos[1]->type->dim;
        r->ellipsis = x->ellipsis;
        return r;
    }
    case BI_TRANSPOSE: {
        /* output axis i is input axis perm[i]; a negative axis counts from the end */
        Expr *pe = pos[1];
        if (pe->kind != EX_LIST) {
            diag_error(c->d, pe->span, "`transpose` needs a permutation of the axes such as [0, 2, 1]");
            return type_error(c->a);
        }
        if (x->ellipsis) {
            diag_error(c->d, pos[0]->span, "cannot transpose %s: its `...` axes are unknown here (`.mT` swaps the last two)",
                       ty(c, x));
            return type_error(c->a);
        }
        if (pe->args.len != x->rank) {
            diag_error(c->d, pe->span, "`transpose` of %s needs a permutation of its %d axes, not %d", ty(c, x), x->rank,
                       pe->args.len);
            return type_error(c->a);
        }
        Type *r = copy_type(c, x);
        bool *seen = arena_alloc(c->a, (size_t)x->rank);
        for (int i = 0; i < pe->args.len; i++) {
            Expr *ae = pe->args.items[i].value;
            Type *at = value_of(c, ae);
            if (at->kind == TY_ERROR) return at;
            long k;
            if (!is_int_value(at, &k) || k < -x->rank || k >= x->rank) {
                diag_error(c->d, ae->span, "`transpose` of %s: axis %s is not one of its %d axes", ty(c, x),
                           span_text(c, ae->span), x->rank);
                return type_error(c->a);
            }
            if (k < 0) k += x->rank;
            if (seen[k]) {
                diag_error(c->d, ae->span, "`transpose` of %s: axis %ld appears twice", ty(c, x), k);
                return type_error(c->a);
            }
            seen[k] = true;
            r->dims[i] = x->dims[k];
        }
        return r;
    }
    case BI_ARANGE: {
        long n;
        if (!x->has_dim || (dim_is_const(&x->dim, &n) && n <= 0)) {
            diag_error(c->d, pos[0]->span, "`arange` needs a positive compile-time integer (a number, const or dim)");
            return type_error(c->a);
        }
        return type_tensor(c->a, DT_I32, 1, &x->dim);
    }
    case BI_BERNOULLI: case BI_NORMAL: case BI_UNIFORM: case BI_RANDINT: {
        if (!random_args_in_domain(c, b, pos)) return type_error(c->a);
        int shape_at = b->id == BI_BERNOULLI ? 1 : 2;
        Type *t = shape_arg(c, pos[shape_at], b->id == BI_RANDINT ? DT_I32 : DT_F32);
        if (t->kind == TY_ERROR) return t;
        for (int i = 0; i < shape_at; i++) {
            if (!binary_shape(c, pos[i], pos[i]->type, t, b->name)) return type_error(c->a);
            if (b->id == BI_RANDINT && !pos[i]->type->has_dim) {
                diag_error(c->d, pos[i]->span, "the bounds of `randint` must be compile-time integers");
                return type_error(c->a);
            }
        }
        return t;
    }
    case BI_SHIFT2D: {
        for (int i = 1; i < 4; i++) {
            if (!pos[i]->type->has_dim) {
                diag_error(c->d, pos[i]->span, "`shift2d` needs compile-time integers for h, w and max");
                return type_error(c->a);
            }
        }
        /* x: [B, h*w]; inside a generic body [B, D] may be anything, so only a
         * certain difference (a non-zero constant apart) is an error */
        Dim hw = dim_const(0), diff;
        long gap = 0;
        bool sure = dim_mul(&hw, &pos[1]->type->dim, &pos[2]->type->dim) && x->rank == 2 && !x->ellipsis &&
                    dim_sub(&diff, &x->dims[1], &hw) && dim_is_const(&diff, &gap);
        if (x->rank != 2 || x->ellipsis || (sure && gap != 0)) {
            StrBuf s = {0};
            dim_print(&hw, &s);
            diag_error(c->d, pos[0]->span, "`shift2d` needs images [B, h*w] with h*w = %s, not %s", s.data, ty(c, x));
            sb_free(&s);
            return type_error(c->a);
        }
        if (!want_f32(c, pos[0], b->name)) return type_error(c->a);
        return copy_type(c, x);
    }
    case BI_CONV2D: case BI_CONV_TRANSPOSE2D: case BI_MAX_POOL2D: case BI_AVG_POOL2D: case BI_UPSAMPLE2D:
    case BI_GLOBAL_AVG_POOL: case BI_DROPOUT: case BI_BATCH_NORM:
        for (int i = 0; i < e->args.len; i++)
            if (e->args.items[i].name && value_of(c, e->args.items[i].value)->kind == TY_ERROR) return type_error(c->a);
        if (b->id == BI_BATCH_NORM && !layer_call_allowed(c, e)) return type_error(c->a);
        return sema_check_image(c->a, c->d, c->fn, e, b->id);
    case BI_EINSUM: return check_einsum(c, pos);
    case BI_COUNT: break;
    }
    return type_error(c->a);
}

/* ---------------------------------------------------------- expressions */
