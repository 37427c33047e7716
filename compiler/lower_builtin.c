/* lower_builtin.c — the built-in functions (rl-language.md §5) become IR nodes:
 * elementwise, reductions, shape, random. */
#include "lower_impl.h"

/* ---------------------------------------------------------------- builtins */

/* The argument `name` of a built-in call: by name, else the pos-th positional one. */
const Expr *arg_of(const Expr *call, int pos, const char *name) {
    int k = 0;
    for (int i = 0; i < call->args.len; i++) {
        const Arg *a = &call->args.items[i];
        if (a->name) {
            if (name && strcmp(a->name, name) == 0) return a->value;
        } else if (k++ == pos) {
            return a->value;
        }
    }
    return NULL;
}

static int n_positional(const Expr *call) {
    int k = 0;
    for (int i = 0; i < call->args.len; i++) k += call->args.items[i].name == NULL;
    return k;
}

Val eval_arg(Lower *L, Frame *f, const Expr *call, int pos, const char *name) {
    const Expr *e = arg_of(call, pos, name);
    if (!e) {
        diag_error(L->d, call->span, "missing argument `%s`", name);
        return v_none();
    }
    return lower_expr(L, f, e);
}

static bool shape_arg(Lower *L, Val v, Span at, IrShape *out) {
    if (v.kind == V_NONE) return false;
    *out = scalar_shape();
    if (v.kind != V_TUPLE) {
        diag_error(L->d, at, "a shape `[d1, d2, ...]` is needed here");
        return false;
    }
    if (v.n > IR_MAX_RANK) {
        diag_error(L->d, at, "more than %d axes", IR_MAX_RANK);
        return false;
    }
    for (int i = 0; i < v.n; i++) {
        if (!val_to_dim(v.elems[i], &out->d[i])) {
            diag_error(L->d, at, "axis %d of this shape is not an integer", i);
            return false;
        }
    }
    out->rank = v.n;
    return true;
}

/* `axis = k` (negative counts from the end), a list of axes, or NULL: every axis. */
static bool axes_arg(Lower *L, Frame *f, const Expr *e, int rank, uint32_t *mask) {
    if (!e) {
        *mask = rank ? (1u << rank) - 1 : 0;
        return true;
    }
    Val v = lower_expr(L, f, e);
    Val one[1] = {v};
    Val *list = v.kind == V_TUPLE ? v.elems : one;
    int n = v.kind == V_TUPLE ? v.n : 1;
    *mask = 0;
    for (int i = 0; i < n; i++) {
        int64_t k;
        if (!need_int(L, list[i], e->span, "an axis", &k)) return false;
        if (k < 0) k += rank;
        if (k < 0 || k >= rank) {
            diag_error(L->d, e->span, "axis out of range for rank %d", rank);
            return false;
        }
        *mask |= 1u << k;
    }
    return true;
}

static bool count_of_axes(Lower *L, IrShape s, uint32_t mask, Span at, IrDim *n) {
    *n = ir_dim_const(1);
    for (int i = 0; i < s.rank; i++) {
        if (!(mask & (1u << i))) continue;
        if (!dim_mul(*n, s.d[i], n)) {
            diag_error(L->d, at, "the element count here is a multiple of B times B");
            return false;
        }
    }
    return true;
}

int to_f32(Lower *L, int x, Span at) {
    return dtype_of(L, x) == IR_F32 ? x : ir_unary(L->g, IR_TO_F32, x, at);
}

/* A reduction's result r: the reduced axes dropped, or kept (size 1) under keepdims. */
static int reduced(Lower *L, bool keep, int r, uint32_t mask, Span at) {
    return keep ? r : drop_axes(L, r, mask, at);
}

/* sum / mean / max / min / logsumexp / argmax with `axis = k` or over everything.
 * IR reductions keep the reduced axes with size 1; the language drops them unless
 * the call says `keepdims = true` (check accepts only the literals). */
static Val lower_reduction(Lower *L, Frame *f, const Expr *call, const char *name) {
    Val xv = eval_arg(L, f, call, 0, "x");
    int x;
    if (!need_node(L, xv, call->span, &x)) return v_none();
    IrShape s = shape_of(L, x);
    uint32_t mask;
    if (!axes_arg(L, f, arg_of(call, 1, "axis"), s.rank, &mask)) return v_none();
    const Expr *kd = arg_of(call, -1, "keepdims");
    bool keep = kd && kd->kind == EX_BOOL && kd->num != 0;
    Span at = call->span;
    if (!mask && strcmp(name, "argmax") == 0) {
        diag_error(L->d, at, "argmax of a scalar");
        return v_none();
    }
    if (!mask) return v_node(x);

    if (strcmp(name, "sum") == 0) return v_node(reduced(L, keep, ir_reduce(L->g, IR_SUM, x, mask, at), mask, at));
    if (strcmp(name, "max") == 0) return v_node(reduced(L, keep, ir_reduce(L->g, IR_RMAX, x, mask, at), mask, at));
    if (strcmp(name, "min") == 0) return v_node(reduced(L, keep, ir_reduce(L->g, IR_RMIN, x, mask, at), mask, at));
    if (strcmp(name, "mean") == 0) {
        /* mean = sum / n; n involves B when a batch axis is reduced */
        IrDim n;
        if (!count_of_axes(L, s, mask, at, &n)) return v_none();
        x = to_f32(L, x, at);
        int sum = reduced(L, keep, ir_reduce(L->g, IR_SUM, x, mask, at), mask, at);
        return lower_binop(L, OP_DIV, v_node(sum), v_dim(n), at);
    }
    if (strcmp(name, "logsumexp") == 0) {
        /* logsumexp(x) = m + log(sum(exp(x - m))), m = max(x): no overflow. m is
         * held constant (stop_gradient): the gradient of the whole is softmax(x)
         * whatever m is, so no gradient needs to flow through the max. */
        int m = ir_unary(L->g, IR_STOP_GRAD, ir_reduce(L->g, IR_RMAX, x, mask, at), at);
        int e = ir_unary(L->g, IR_EXP, ir_binary(L->g, IR_SUB, x, m, at), at);
        int r = ir_binary(L->g, IR_ADD, ir_unary(L->g, IR_LOG, ir_reduce(L->g, IR_SUM, e, mask, at), at), m, at);
        return v_node(reduced(L, keep, r, mask, at));
    }
    /* argmax: one axis; over everything it is the argmax of the flattened tensor */
    if (__builtin_popcount(mask) != 1) {
        IrDim n;
        if (!count_of_axes(L, s, mask, at, &n)) return v_none();
        if (mask != (1u << s.rank) - 1) {
            diag_error(L->d, at, "argmax takes one axis");
            return v_none();
        }
        x = ir_reshape(L->g, x, ir_shape(1, &n), at);
        int r = ir_reduce(L->g, IR_ARGMAX, x, 1, at);
        if (!keep) return v_node(drop_axes(L, r, 1, at));
        IrShape ones = s;
        for (int i = 0; i < s.rank; i++) ones.d[i] = ir_dim_const(1);
        return v_node(ir_reshape(L->g, r, ones, at));
    }
    return v_node(reduced(L, keep, ir_reduce(L->g, IR_ARGMAX, x, mask, at), mask, at));
}

static int random_stream(Lower *L) { return L->streams++; }

/* bernoulli / normal / uniform / randint; false when `name` is none of them. */
/* rlc check rejects literal arguments out of their domain; this catches the
 * values only known per call, a hyper-parameter overridden at the call site
 * (`denoise(x, keep = 2)` reaching `bernoulli(keep, ...)`). */
static bool random_args_in_domain(Lower *L, const Expr *call, IrOp op, double a, double b) {
    const Expr *second = arg_of(call, 1, op == IR_BERNOULLI ? "shape" : op == IR_NORMAL ? "std" : "hi");
    const Expr *first = arg_of(call, 0, op == IR_BERNOULLI ? "p" : op == IR_NORMAL ? "mean" : "lo");
    Span at = call->span;
    if (op == IR_BERNOULLI && !(a >= 0 && a <= 1)) {
        diag_error(L->d, first ? first->span : at, "`bernoulli` needs a probability in [0, 1], not %g", a);
        return false;
    }
    if (op == IR_NORMAL && !(b >= 0 && isfinite(b))) {
        diag_error(L->d, second ? second->span : at, "`normal` needs a standard deviation of 0 or more, not %g", b);
        return false;
    }
    if ((op == IR_UNIFORM && !(b >= a)) || (op == IR_RANDINT && !(b > a))) {
        diag_error(L->d, second ? second->span : at, "`%s` needs lo %s hi, not lo = %g and hi = %g",
                   op == IR_RANDINT ? "randint" : "uniform", op == IR_RANDINT ? "<" : "<=", a, b);
        return false;
    }
    return true;
}

static bool lower_random(Lower *L, Frame *f, const Expr *call, const char *name, Val *out) {
    static const struct {
        const char *name, *a, *b;
        IrOp op;
    } table[] = {
        {"bernoulli", "p", NULL, IR_BERNOULLI},
        {"normal", "mean", "std", IR_NORMAL},
        {"uniform", "lo", "hi", IR_UNIFORM},
        {"randint", "lo", "hi", IR_RANDINT},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].name, name) != 0) continue;
        *out = v_none();
        int k = 0;
        double a = 0, b = 0;
        if (!need_static(L, eval_arg(L, f, call, k++, table[i].a), call->span, table[i].a, &a))
            return true;
        if (table[i].b &&
            !need_static(L, eval_arg(L, f, call, k++, table[i].b), call->span, table[i].b, &b))
            return true;
        if (!random_args_in_domain(L, call, table[i].op, a, b)) return true;
        IrShape s;
        if (shape_arg(L, eval_arg(L, f, call, k, "shape"), call->span, &s))
            *out = v_node(ir_random(L->g, table[i].op, s, a, b, random_stream(L), call->span));
        return true;
    }
    return false;
}

/* An integer argument of an image built-in, `dflt` when absent. */
static bool image_int(Lower *L, Frame *f, const Expr *call, int pos, const char *name, int64_t dflt,
                      int64_t *out) {
    const Expr *e = arg_of(call, pos, name);
    if (!e) {
        *out = dflt;
        return true;
    }
    return need_int(L, lower_expr(L, f, e), e->span, name, out);
}

/* conv2d, conv_transpose2d, max_pool2d, avg_pool2d, upsample2d, global_avg_pool,
 * dropout (lower_image.c); false when `name` is none of them. */
static bool lower_image_builtin(Lower *L, Frame *f, const Expr *call, const char *name, Val *out) {
    static const char *const names[] = {"conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
                                        "upsample2d", "global_avg_pool", "dropout"};
    int which = -1;
    for (int i = 0; i < 7; i++)
        if (strcmp(names[i], name) == 0) which = i;
    if (which < 0) return false;
    *out = v_none();
    Span at = call->span;
    int x, w = -1;
    if (!need_node(L, eval_arg(L, f, call, 0, "x"), at, &x)) return true;
    if (which <= 1 && !need_node(L, eval_arg(L, f, call, 1, "w"), at, &w)) return true;
    const IrShape *xs = &node_of(L, x)->shape;
    if (which != 6 && (xs->d[1].b || xs->d[2].b || xs->d[3].b)) {
        diag_error(L->d, at, "`%s`: channels, height and width must not depend on the batch size", name);
        return true;
    }
    int64_t a1, a2, a3;
    switch (which) {
    case 0:
    case 1:
        if (image_int(L, f, call, 2, "stride", 1, &a1) && image_int(L, f, call, 3, "padding", 0, &a2) &&
            image_int(L, f, call, 4, which ? "output_padding" : "dilation", which ? 0 : 1, &a3))
            *out = v_node(which ? lower_conv_transpose2d(L->g, x, w, a1, a2, a3, at)
                                : lower_conv2d(L->g, x, w, a1, a2, a3, at));
        return true;
    case 2:
    case 3:
        if (image_int(L, f, call, 1, "k", 1, &a1) && image_int(L, f, call, 2, "stride", a1, &a2) &&
            image_int(L, f, call, 3, "padding", 0, &a3))
            *out = v_node(lower_pool2d(L->g, x, which == 2, a1, a2, a3, at));
        return true;
    case 4:
        if (image_int(L, f, call, 1, "factor", 1, &a1)) *out = v_node(lower_upsample2d(L->g, x, a1, at));
        return true;
    case 5: *out = v_node(lower_global_avg_pool(L->g, x, at)); return true;
    default: {
        double p;
        if (need_static(L, eval_arg(L, f, call, 1, "p"), at, "p", &p))
            *out = v_node(lower_dropout(L->g, x, p, L->settings->is_train, random_stream(L), at));
        return true;
    }
    }
}

/* batch_norm(x, momentum, eps) (lower_image.c): a layer's parameters g (ones) and b (zeros) and
 * its state mean (zeros) and var (ones), all [C], named like a .rl layer's. It uses and updates
 * the batch's statistics in a train stage unless its component is frozen: a frozen component is
 * a fixed function, so its batch norm runs as in eval. */
static Val lower_batch_norm_call(Lower *L, Frame *f, const Expr *call) {
    Span at = call->span;
    int x;
    double momentum = 0.1, eps = 1e-5;
    if (!need_node(L, eval_arg(L, f, call, 0, "x"), at, &x)) return v_none();
    const Expr *m = arg_of(call, 1, "momentum"), *e = arg_of(call, 2, "eps");
    if ((m && !need_static(L, lower_expr(L, f, m), m->span, "momentum", &momentum)) ||
        (e && !need_static(L, lower_expr(L, f, e), e->span, "eps", &eps)))
        return v_none();
    const IrShape *xs = &node_of(L, x)->shape;
    for (int i = 1; i < xs->rank; i++)
        if (xs->d[i].b) {
            diag_error(L->d, at, "`batch_norm`: only the batch axis may depend on the batch size");
            return v_none();
        }
    const char *prefix = lower_layer_prefix(L, f->namer, "batch_norm");
    IrShape cs = ir_shape(1, &xs->d[1]);
    static const struct { const char *name; IrInit init; bool state; } vecs[4] = {
        {"g", INIT_ONES, false}, {"b", INIT_ZEROS, false}, {"mean", INIT_ZEROS, true}, {"var", INIT_ONES, true},
    };
    int nodes[4];
    for (int i = 0; i < 4; i++)
        nodes[i] = lower_add_param(L, (IrParam){.name = arena_printf(L->a, "%s.%s", prefix, vecs[i].name),
                                                .component = f->namer->component, .shape = cs,
                                                .init = vecs[i].init, .state = vecs[i].state, .span = at});
    bool batch_stats = L->settings->is_train && L->g->params.items[node_of(L, nodes[0])->index].trained;
    if (batch_stats && L->settings->batch == 1) {
        diag_error(L->d, at,
                   "`batch_norm` in train stage `%s` needs at least 2 examples per batch for the batch's "
                   "variance, but the stage has `batch: 1`", L->settings->name);
        call_trail(L);
        return v_none();
    }
    return v_node(lower_batch_norm(L->g, x, nodes[0], nodes[1], nodes[2], nodes[3], momentum, eps,
                                   batch_stats, at));
}

Val lower_builtin(Lower *L, Frame *f, const Expr *call, const char *name) {
    static const struct {
        const char *name;
        IrOp op;
        double (*fold)(double);
    } unary[] = {
        {"exp", IR_EXP, exp},   {"log", IR_LOG, log},   {"sqrt", IR_SQRT, sqrt},
        {"abs", IR_ABS, fabs},  {"tanh", IR_TANH, tanh}, {"sigmoid", IR_SIGMOID, NULL},
        {"relu", IR_RELU, NULL}, {"float", IR_TO_F32, NULL}, {"stop_gradient", IR_STOP_GRAD, NULL},
    };
    Span at = call->span;
    IrGraph *g = L->g;
    Val image;
    if (lower_image_builtin(L, f, call, name, &image)) return image;
    if (strcmp(name, "batch_norm") == 0) return lower_batch_norm_call(L, f, call);
    if (strcmp(name, "einsum") == 0) return lower_einsum(L, f, call);

    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) {
        if (strcmp(unary[i].name, name) != 0) continue;
        Val x = eval_arg(L, f, call, 0, "x");
        double v;
        if (static_num(x, &v)) {
            if (unary[i].fold) return v_num(unary[i].fold(v));
            if (unary[i].op == IR_SIGMOID) return v_num(1 / (1 + exp(-v)));
            if (unary[i].op == IR_RELU) return v_num(v > 0 ? v : 0);
            return v_num(v);
        }
        int xi;
        if (x.kind == V_DIM) xi = materialize(L, x, IR_F32, at);   /* float(B) */
        else if (!need_node(L, x, at, &xi)) return v_none();
        if (unary[i].op == IR_TO_F32) return v_node(to_f32(L, xi, at));
        return v_node(ir_unary(g, unary[i].op, xi, at));
    }

    if ((strcmp(name, "max") == 0 || strcmp(name, "min") == 0) && n_positional(call) == 2) {
        Val x = eval_arg(L, f, call, 0, NULL), y = eval_arg(L, f, call, 1, NULL);
        if (x.kind == V_NONE || y.kind == V_NONE) return v_none();
        double a, b;
        bool is_max = name[1] == 'a';
        if (static_num(x, &a) && static_num(y, &b)) return v_num(is_max ? fmax(a, b) : fmin(a, b));
        IrDType dt = operand_dtype(L, x, y);
        int xi = materialize(L, x, dt, at), yi = materialize(L, y, dt, at);
        if (xi < 0 || yi < 0) return v_none();
        return v_node(ir_binary(g, is_max ? IR_MAX : IR_MIN, xi, yi, at));
    }
    if (strcmp(name, "sum") == 0 || strcmp(name, "mean") == 0 || strcmp(name, "max") == 0 ||
        strcmp(name, "min") == 0 || strcmp(name, "logsumexp") == 0 || strcmp(name, "argmax") == 0)
        return lower_reduction(L, f, call, name);

    if (strcmp(name, "where") == 0) {
        Val c = eval_arg(L, f, call, 0, "cond"), x = eval_arg(L, f, call, 1, "a"),
            y = eval_arg(L, f, call, 2, "b");
        if (c.kind == V_NONE || x.kind == V_NONE || y.kind == V_NONE) return v_none();
        IrDType dt = operand_dtype(L, x, y);
        int ci = materialize(L, c, IR_F32, at), xi = materialize(L, x, dt, at),
            yi = materialize(L, y, dt, at);
        if (ci < 0 || xi < 0 || yi < 0) return v_none();
        return v_node(ir_where(g, ci, xi, yi, at));
    }
    if (strcmp(name, "reshape") == 0) {
        int x;
        IrShape s;
        if (!need_node(L, eval_arg(L, f, call, 0, "x"), at, &x)) return v_none();
        if (!shape_arg(L, eval_arg(L, f, call, 1, "shape"), at, &s)) return v_none();
        /* check leaves counts over size variables to here, where they are known up to
         * B: the counts are polynomials in B of degree <= IR_MAX_RANK, equal for
         * every B when equal at IR_MAX_RANK + 1 values */
        IrShape sx = shape_of(L, x);
        for (int64_t B = 1; B <= IR_MAX_RANK + 1; B++) {
            int64_t nx, ns;
            bool fx = ir_shape_fits(&sx, B, &nx), fs = ir_shape_fits(&s, B, &ns);
            if (fx != fs || nx != ns) {
                StrBuf a = {0}, b = {0};
                ir_shape_print(&sx, &a);
                ir_shape_print(&s, &b);
                diag_error(L->d, at, "cannot reshape %s to %s: the element counts differ", a.data, b.data);
                sb_free(&a);
                sb_free(&b);
                call_trail(L);
                return v_none();
            }
        }
        return v_node(ir_reshape(g, x, s, at));
    }
    if (strcmp(name, "transpose") == 0) {
        int x;
        if (!need_node(L, eval_arg(L, f, call, 0, "x"), at, &x)) return v_none();
        Val pv = eval_arg(L, f, call, 1, "perm");
        int rank = shape_of(L, x).rank, perm[IR_MAX_RANK];
        if (pv.kind != V_TUPLE || pv.n != rank) return v_none();   /* check reported it */
        for (int i = 0; i < rank; i++) {
            int64_t k;
            if (!need_int(L, pv.elems[i], at, "an axis", &k)) return v_none();
            perm[i] = (int)(k < 0 ? k + rank : k);
        }
        return v_node(ir_transpose(g, x, perm, at));
    }
    if (strcmp(name, "concat") == 0) {
        int x, y;
        if (!need_node(L, eval_arg(L, f, call, 0, "a"), at, &x) ||
            !need_node(L, eval_arg(L, f, call, 1, "b"), at, &y))
            return v_none();
        int64_t axis = 0;
        const Expr *ax = arg_of(call, 2, "axis");
        if (ax && !need_int(L, lower_expr(L, f, ax), ax->span, "an axis", &axis)) return v_none();
        int rank = shape_of(L, x).rank;
        if (axis < 0) axis += rank;
        if (axis < 0 || axis >= rank) {
            diag_error(L->d, at, "axis out of range for rank %d", rank);
            return v_none();
        }
        return v_node(ir_concat(g, x, y, (int)axis, at));
    }
    if (strcmp(name, "one_hot") == 0) {
        int y;
        IrDim n;
        if (!need_node(L, eval_arg(L, f, call, 0, "y"), at, &y)) return v_none();
        Val nv = eval_arg(L, f, call, 1, "n");
        if (nv.kind == V_NONE) return nv;
        if (!val_to_dim(nv, &n)) {
            diag_error(L->d, at, "one_hot's class count must be an integer");
            return v_none();
        }
        if (n.b == 0) return v_node(ir_one_hot(g, y, n.c, at));
        /* a class count of B (`one_hot(arange(N), N)` over a batch) */
        IrNode node = {.op = IR_ONE_HOT, .nin = 1, .in = {y}, .dtype = IR_F32, .shape = shape_of(L, y),
                       .span = at, .dim = n};
        node.shape.d[node.shape.rank++] = n;
        return v_node(ir_add_node(g, node));
    }
    if (strcmp(name, "arange") == 0) {
        Val n = eval_arg(L, f, call, 0, "n");
        IrDim d;
        if (n.kind == V_NONE) return v_none();
        if (!val_to_dim(n, &d)) {
            diag_error(L->d, at, "arange needs an integer");
            return v_none();
        }
        if (d.b == 0) return v_node(ir_arange(g, d.c, at));
        IrNode node = {.op = IR_ARANGE, .dtype = IR_I32, .shape = ir_shape(1, &d), .span = at};
        return v_node(ir_add_node(g, node));
    }
    if (strcmp(name, "shift2d") == 0) {
        int x;
        int64_t h, w, max;
        if (!need_node(L, eval_arg(L, f, call, 0, "x"), at, &x) ||
            !need_int(L, eval_arg(L, f, call, 1, "h"), at, "shift2d's h", &h) ||
            !need_int(L, eval_arg(L, f, call, 2, "w"), at, "shift2d's w", &w) ||
            !need_int(L, eval_arg(L, f, call, 3, "max"), at, "shift2d's max", &max))
            return v_none();
        return v_node(ir_shift2d(g, x, h, w, max, random_stream(L), at));
    }
    Val r;
    if (lower_random(L, f, call, name, &r)) return r;
    diag_error(L->d, at, "the built-in `%s` cannot be lowered", name);
    return v_none();
}

