/* ir.c — the tensor IR: op table, builders with their shape rules, the text
 * form and the verifier (docs/ir.md describes each op).
 *
 * One function, ir_infer, holds every shape and dtype rule: the builders call
 * it to fill a new node in, ir_verify calls it again and compares, so a rule
 * is written once and checked after every pass.
 */
#include "ir.h"

#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const IrOpInfo ir_op_info[IR_OP_COUNT] = {
#define X(e, name, arity, cls) [e] = {name, arity, cls},
#include "ops.def"
#undef X
};

/* ----------------------------------------------------------------- shapes */

IrShape ir_shape(int rank, const IrDim *dims) {
    IrShape s = {0};
    s.rank = rank;
    for (int i = 0; i < rank; i++) s.d[i] = dims[i];
    return s;
}

IrDim ir_dim_const(int64_t c) { return (IrDim){0, c}; }
IrDim ir_dim_batch(void) { return (IrDim){1, 0}; }
bool ir_dim_eq(IrDim x, IrDim y) { return x.b == y.b && x.c == y.c; }
static bool dim_is_one(IrDim d) { return d.b == 0 && d.c == 1; }

bool ir_op_is_compare(IrOp op) {
    return op == IR_EQ || op == IR_NE || op == IR_LT || op == IR_LE || op == IR_GT || op == IR_GE;
}

bool ir_shape_eq(const IrShape *x, const IrShape *y) {
    if (x->rank != y->rank) return false;
    for (int i = 0; i < x->rank; i++)
        if (!ir_dim_eq(x->d[i], y->d[i])) return false;
    return true;
}

int64_t ir_dim_value(IrDim d, int64_t B) { return (int64_t)d.b * B + d.c; }

int64_t ir_shape_numel(const IrShape *s, int64_t B) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= ir_dim_value(s->d[i], B);
    return n;
}

bool ir_shape_fits(const IrShape *s, int64_t B, int64_t *numel) {
    int64_t n = 1;
    bool ok = true;
    for (int i = 0; i < s->rank && ok; i++) {
        int64_t d;
        ok = !__builtin_mul_overflow((int64_t)s->d[i].b, B, &d) && !__builtin_add_overflow(d, s->d[i].c, &d) &&
             d >= 0 && !__builtin_mul_overflow(n, d, &n);
    }
    ok = ok && n <= IR_MAX_NUMEL;
    if (numel) *numel = ok ? n : -1;
    return ok;
}

/* The element count modulo 2^64: a shape far past IR_MAX_NUMEL (rejected where
 * it is allocated) may still be compared here, and signed products would overflow. */
static uint64_t numel_wrapped(const IrShape *s, uint64_t B) {
    uint64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= (uint64_t)(int64_t)s->d[i].b * B + (uint64_t)s->d[i].c;
    return n;
}

/* The element count is a polynomial in B of degree <= rank <= IR_MAX_RANK, so
 * two counts that agree at IR_MAX_RANK + 1 values of B agree for every B. */
static bool numel_eq_all_B(const IrShape *x, const IrShape *y) {
    for (uint64_t B = 1; B <= IR_MAX_RANK + 1; B++)
        if (numel_wrapped(x, B) != numel_wrapped(y, B)) return false;
    return true;
}

bool ir_broadcast_shape(const IrShape *x, const IrShape *y, IrShape *out) {
    IrShape r = {0};
    r.rank = x->rank > y->rank ? x->rank : y->rank;
    for (int i = 0; i < r.rank; i++) {
        int xi = x->rank - r.rank + i, yi = y->rank - r.rank + i;
        IrDim a = xi >= 0 ? x->d[xi] : ir_dim_const(1);
        IrDim b = yi >= 0 ? y->d[yi] : ir_dim_const(1);
        if (dim_is_one(a)) r.d[i] = b;
        else if (dim_is_one(b) || ir_dim_eq(a, b)) r.d[i] = a;
        else return false;
    }
    *out = r;
    return true;
}

/* Can x be broadcast to exactly `to` (numpy rules, trailing axes aligned)? */
static bool broadcasts_to(const IrShape *x, const IrShape *to) {
    if (x->rank > to->rank) return false;
    for (int i = 0; i < x->rank; i++) {
        IrDim a = x->d[i], b = to->d[to->rank - x->rank + i];
        if (!dim_is_one(a) && !ir_dim_eq(a, b)) return false;
    }
    return true;
}

static IrDim dim_add(IrDim x, IrDim y) { return (IrDim){x.b + y.b, x.c + y.c}; }
static IrDim dim_sub(IrDim x, IrDim y) { return (IrDim){x.b - y.b, x.c - y.c}; }
/* b*B + c >= 0 for every B >= 1 (B is at least 1 at run time). */
static bool dim_nonneg(IrDim d) { return d.b >= 0 && d.b + d.c >= 0; }

static void dim_print(IrDim d, StrBuf *out) {
    if (d.b == 0) {
        sb_printf(out, "%lld", (long long)d.c);
        return;
    }
    if (d.b == 1) sb_puts(out, "B");
    else sb_printf(out, "%d*B", d.b);
    if (d.c > 0) sb_printf(out, "+%lld", (long long)d.c);
    else if (d.c < 0) sb_printf(out, "-%lld", (long long)-d.c);
}

void ir_shape_print(const IrShape *s, StrBuf *out) {
    sb_puts(out, "[");
    for (int i = 0; i < s->rank; i++) {
        if (i) sb_puts(out, ", ");
        dim_print(s->d[i], out);
    }
    sb_puts(out, "]");
}

static const char *shape_str(const IrShape *s, char *buf, size_t n) {
    StrBuf sb = {0};
    ir_shape_print(s, &sb);
    snprintf(buf, n, "%s", sb.data ? sb.data : "[]");
    sb_free(&sb);
    return buf;
}

/* ------------------------------------------------------------ shape rules */

static bool fail(StrBuf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(StrBuf *why, const char *fmt, ...) {
    if (!why) return false;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sb_puts(why, msg);
    return false;
}

static const IrNode *in_node(const IrGraph *g, const IrNode *n, int k) {
    return &g->nodes.items[n->in[k]];
}

int64_t ir_window_out(int64_t len, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
    int64_t span = len + 2 * pad - dil * (k - 1) - 1;
    /* floor division, as Python's // (span may be negative) */
    int64_t q = span / stride;
    if (span % stride != 0 && span < 0) q--;
    return q + 1;
}

static bool window_ok(const IrWindow *w) {
    return w->kh >= 1 && w->kw >= 1 && w->stride >= 1 && w->pad >= 0 && w->dil >= 1 && w->h >= 1 &&
           w->w >= 1;
}

/* The matrix dims of a matmul operand after its transpose flag: rows, cols. */
static void mat_dims(const IrShape *s, bool trans, IrDim *rows, IrDim *cols) {
    IrDim r = s->d[s->rank - 2], c = s->d[s->rank - 1];
    *rows = trans ? c : r;
    *cols = trans ? r : c;
}

/* Fills n->shape and n->dtype from its inputs and attributes by the op's rule.
 * For ops whose shape is an attribute (const, param, input, random sources,
 * broadcast, reshape, scatter_add, arange, dimval) it checks the given shape.
 * Inputs must already be valid ids of earlier nodes. */
static bool ir_infer(const IrGraph *g, IrNode *n, StrBuf *why) {
    const IrOpInfo *info = &ir_op_info[n->op];
    char s0[128], s1[128];
    const IrNode *x = n->nin > 0 ? in_node(g, n, 0) : NULL;
    const IrNode *y = n->nin > 1 ? in_node(g, n, 1) : NULL;

    switch (info->cls) {
    case IRC_LEAF:
        switch (n->op) {
        case IR_PARAM:
            if (n->index < 0 || n->index >= g->params.len)
                return fail(why, "param index %d out of range", n->index);
            n->shape = g->params.items[n->index].shape;
            n->dtype = IR_F32;
            return true;
        case IR_INPUT:
            if (n->index < 0 || n->index >= g->inputs.len)
                return fail(why, "input index %d out of range", n->index);
            n->shape = g->inputs.items[n->index].shape;
            n->dtype = g->inputs.items[n->index].dtype;
            return true;
        case IR_ARANGE:
            if (n->shape.rank != 1) return fail(why, "arange is 1-D");
            n->dtype = IR_I32;
            return true;
        case IR_DIMVAL:
            if (n->shape.rank != 0) return fail(why, "dimval is a scalar");
            return true;
        default:
            return true;
        }
    case IRC_RANDOM:
        if (n->op == IR_SHIFT2D) {
            if (x->dtype != IR_F32 || x->shape.rank != 2 || x->shape.d[1].b != 0 ||
                x->shape.d[1].c != n->dim.c * n->start)
                return fail(why, "shift2d needs f32 [N, %lld*%lld], got %s",
                            (long long)n->dim.c, (long long)n->start,
                            shape_str(&x->shape, s0, sizeof s0));
            n->shape = x->shape;
            n->dtype = IR_F32;
            return true;
        }
        n->dtype = n->op == IR_RANDINT ? IR_I32 : IR_F32;
        return true;
    case IRC_UNARY:
        n->shape = x->shape;
        if (n->op == IR_TO_F32) {
            n->dtype = IR_F32;
            return true;
        }
        n->dtype = x->dtype;
        if (x->dtype == IR_I32 && n->op != IR_NEG && n->op != IR_ABS && n->op != IR_SIGN &&
            n->op != IR_STOP_GRAD)
            return fail(why, "%s needs f32, got i32", info->name);
        return true;
    case IRC_BINARY:
        if (!ir_shape_eq(&x->shape, &y->shape))
            return fail(why, "%s operands differ in shape: %s and %s (broadcasts are explicit)",
                        info->name, shape_str(&x->shape, s0, sizeof s0),
                        shape_str(&y->shape, s1, sizeof s1));
        if (x->dtype != y->dtype) return fail(why, "%s operands differ in dtype", info->name);
        n->shape = x->shape;
        n->dtype = ir_op_is_compare(n->op) ? IR_F32 : x->dtype;
        if (x->dtype == IR_I32 && (n->op == IR_POW || n->op == IR_DIV))
            return fail(why, "%s needs f32 operands", info->name);
        return true;
    case IRC_TERNARY: {
        const IrNode *z = in_node(g, n, 2);
        if (!ir_shape_eq(&x->shape, &y->shape) || !ir_shape_eq(&y->shape, &z->shape))
            return fail(why, "where operands differ in shape (broadcasts are explicit)");
        if (y->dtype != z->dtype) return fail(why, "where branches differ in dtype");
        n->shape = y->shape;
        n->dtype = y->dtype;
        return true;
    }
    case IRC_REDUCE: {
        if (x->shape.rank >= 32 || (n->axes >> x->shape.rank) != 0)
            return fail(why, "%s axes 0x%x out of range for rank %d", info->name, n->axes,
                        x->shape.rank);
        n->shape = x->shape;
        for (int i = 0; i < x->shape.rank; i++)
            if (n->axes & (1u << i)) n->shape.d[i] = ir_dim_const(1);
        n->dtype = x->dtype;
        if (n->op == IR_ARGMAX) {
            n->dtype = IR_I32;
            if (n->axes == 0 || (n->axes & (n->axes - 1)) != 0)
                return fail(why, "argmax reduces exactly one axis");
        }
        return true;
    }
    case IRC_MOVE:
        switch (n->op) {
        case IR_BROADCAST:
            n->dtype = x->dtype;
            if (!broadcasts_to(&x->shape, &n->shape))
                return fail(why, "%s does not broadcast to %s", shape_str(&x->shape, s0, sizeof s0),
                            shape_str(&n->shape, s1, sizeof s1));
            return true;
        case IR_RESHAPE:
            n->dtype = x->dtype;
            if (!numel_eq_all_B(&x->shape, &n->shape))
                return fail(why, "reshape %s to %s changes the element count",
                            shape_str(&x->shape, s0, sizeof s0), shape_str(&n->shape, s1, sizeof s1));
            return true;
        case IR_TRANSPOSE: {
            unsigned seen = 0;
            n->shape.rank = x->shape.rank;
            for (int i = 0; i < x->shape.rank; i++) {
                int p = n->perm[i];
                if (p < 0 || p >= x->shape.rank || (seen & (1u << p)))
                    return fail(why, "transpose perm is not a permutation of %d axes", x->shape.rank);
                seen |= 1u << p;
                n->shape.d[i] = x->shape.d[p];
            }
            n->dtype = x->dtype;
            return true;
        }
        case IR_SLICE:
        case IR_PAD: {
            if (n->axis < 0 || n->axis >= x->shape.rank)
                return fail(why, "%s axis %d out of range", info->name, n->axis);
            IrDim d = x->shape.d[n->axis];
            IrDim lo = {n->start_b, n->start}, hi = {n->end_b, n->end};
            n->shape = x->shape;
            n->dtype = x->dtype;
            if (n->op == IR_PAD) {
                if (!dim_nonneg(lo) || !dim_nonneg(hi)) return fail(why, "pad widths must be >= 0");
                n->shape.d[n->axis] = dim_add(d, dim_add(lo, hi));
                return true;
            }
            IrDim len = dim_sub(hi, lo);
            if (!dim_nonneg(lo) || !dim_nonneg(len) || !dim_nonneg(dim_sub(d, hi)))
                return fail(why, "slice bounds out of range along axis %d", n->axis);
            n->shape.d[n->axis] = len;
            return true;
        }
        case IR_CONCAT:
            if (x->shape.rank != y->shape.rank || n->axis < 0 || n->axis >= x->shape.rank)
                return fail(why, "concat of %s and %s along axis %d",
                            shape_str(&x->shape, s0, sizeof s0), shape_str(&y->shape, s1, sizeof s1),
                            n->axis);
            for (int i = 0; i < x->shape.rank; i++)
                if (i != n->axis && !ir_dim_eq(x->shape.d[i], y->shape.d[i]))
                    return fail(why, "concat of %s and %s along axis %d",
                                shape_str(&x->shape, s0, sizeof s0),
                                shape_str(&y->shape, s1, sizeof s1), n->axis);
            if (x->dtype != y->dtype) return fail(why, "concat operands differ in dtype");
            n->shape = x->shape;
            n->shape.d[n->axis].b += y->shape.d[n->axis].b;
            n->shape.d[n->axis].c += y->shape.d[n->axis].c;
            n->dtype = x->dtype;
            return true;
        case IR_ONE_HOT:
            /* n may be B-dependent: `one_hot(arange(N), N)` over a batch */
            if (x->dtype != IR_I32 || x->shape.rank >= IR_MAX_RANK || (n->dim.b == 0 && n->dim.c <= 0) ||
                n->dim.b < 0)
                return fail(why, "one_hot needs i32 of rank < %d and n > 0", IR_MAX_RANK);
            n->shape = x->shape;
            n->shape.d[n->shape.rank++] = n->dim;
            n->dtype = IR_F32;
            return true;
        case IR_UNFOLD: {
            const IrWindow *w = &n->win;
            if (!window_ok(w) || x->shape.rank != 4 || x->dtype != IR_F32 || x->shape.d[1].b ||
                x->shape.d[2].b || x->shape.d[3].b || x->shape.d[2].c != w->h || x->shape.d[3].c != w->w)
                return fail(why, "unfold needs f32 [N, C, %lld, %lld] and a valid window, got %s",
                            (long long)w->h, (long long)w->w, shape_str(&x->shape, s0, sizeof s0));
            int64_t oh = ir_window_out(w->h, w->kh, w->stride, w->pad, w->dil);
            int64_t ow = ir_window_out(w->w, w->kw, w->stride, w->pad, w->dil);
            if (oh <= 0 || ow <= 0) return fail(why, "unfold: the window does not fit the image");
            IrDim d[6] = {x->shape.d[1], ir_dim_const(w->kh), ir_dim_const(w->kw), x->shape.d[0],
                          ir_dim_const(oh), ir_dim_const(ow)};
            n->shape = ir_shape(6, d);
            n->dtype = IR_F32;
            return true;
        }
        default:
            return fail(why, "unknown movement op");
        }
    case IRC_WINDOW: {
        const IrWindow *w = &n->win;
        const IrShape *xs = &x->shape;
        if (!window_ok(w) || xs->rank != 6 || x->dtype != IR_F32 || xs->d[0].b || xs->d[1].b ||
            xs->d[2].b || xs->d[4].b || xs->d[5].b || xs->d[1].c != w->kh || xs->d[2].c != w->kw ||
            xs->d[4].c != ir_window_out(w->h, w->kh, w->stride, w->pad, w->dil) ||
            xs->d[5].c != ir_window_out(w->w, w->kw, w->stride, w->pad, w->dil))
            return fail(why, "fold of %s does not match its window", shape_str(xs, s0, sizeof s0));
        IrDim d[4] = {xs->d[3], xs->d[0], ir_dim_const(w->h), ir_dim_const(w->w)};
        n->shape = ir_shape(4, d);
        n->dtype = IR_F32;
        return true;
    }
    case IRC_MATMUL: {
        /* 2-D or 3-D [G, ., .]; a 2-D side beside a 3-D one is shared by every batch element */
        int rx = x->shape.rank, ry = y->shape.rank, r = rx > ry ? rx : ry;
        if (rx < 2 || rx > 3 || ry < 2 || ry > 3)
            return fail(why, "matmul of %s and %s: each 2-D or 3-D",
                        shape_str(&x->shape, s0, sizeof s0), shape_str(&y->shape, s1, sizeof s1));
        if (x->dtype != IR_F32 || y->dtype != IR_F32) return fail(why, "matmul needs f32");
        IrDim m, ka, kb, nn;
        mat_dims(&x->shape, n->trans_a, &m, &ka);
        mat_dims(&y->shape, n->trans_b, &kb, &nn);
        if (!ir_dim_eq(ka, kb) || (rx == 3 && ry == 3 && !ir_dim_eq(x->shape.d[0], y->shape.d[0])))
            return fail(why, "matmul of %s%s and %s%s: inner dims differ",
                        shape_str(&x->shape, s0, sizeof s0), n->trans_a ? "^T" : "",
                        shape_str(&y->shape, s1, sizeof s1), n->trans_b ? "^T" : "");
        n->shape.rank = r;
        if (r == 3) n->shape.d[0] = (rx == 3 ? x : y)->shape.d[0];
        n->shape.d[r - 2] = m;
        n->shape.d[r - 1] = nn;
        n->dtype = IR_F32;
        return true;
    }
    case IRC_GATHER: {
        const IrNode *table = n->op == IR_GATHER ? x : NULL;
        const IrNode *idx = n->op == IR_GATHER ? y : x;
        if (idx->dtype != IR_I32) return fail(why, "%s indices must be i32", info->name);
        const IrShape *ts = table ? &table->shape : &n->shape;
        if (ts->rank < 1 || idx->shape.rank + ts->rank - 1 > IR_MAX_RANK)
            return fail(why, "%s: table rank %d, index rank %d", info->name, ts->rank,
                        idx->shape.rank);
        IrShape rows = idx->shape;
        for (int i = 1; i < ts->rank; i++) rows.d[rows.rank++] = ts->d[i];
        if (table) {
            n->shape = rows;
            n->dtype = table->dtype;
            return true;
        }
        if (!ir_shape_eq(&rows, &y->shape))
            return fail(why, "scatter_add rows are %s, expected %s",
                        shape_str(&y->shape, s0, sizeof s0), shape_str(&rows, s1, sizeof s1));
        n->dtype = y->dtype;
        return true;
    }
    case IRC_UPDATE:
        if (x->op != IR_PARAM || x->index != n->index)
            return fail(why, "update %d: in[0] is not the node of param %d", n->index, n->index);
        if (!ir_shape_eq(&x->shape, &y->shape) || y->dtype != IR_F32)
            return fail(why, "update %d: gradient %s does not match param %s", n->index,
                        shape_str(&y->shape, s0, sizeof s0), shape_str(&x->shape, s1, sizeof s1));
        n->shape = x->shape;
        n->dtype = IR_F32;
        return true;
    case IRC_COLLECTIVE: {
        int64_t procs = n->dim.c;
        n->shape = x->shape;
        n->dtype = x->dtype;
        if (procs < 2) return fail(why, "%s over %lld processes", info->name, (long long)procs);
        if (n->op == IR_ALLREDUCE)
            return x->dtype == IR_F32 ? true : fail(why, "allreduce needs f32");
        if (n->axis < 0 || n->axis >= x->shape.rank)
            return fail(why, "%s axis %d out of range for %s", info->name, n->axis,
                        shape_str(&x->shape, s0, sizeof s0));
        IrDim d = x->shape.d[n->axis];
        bool to_global = n->op == IR_ALLGATHER || n->op == IR_UNSHARD;
        if (d.c != 0 || d.b <= 0 || (!to_global && d.b % procs != 0))
            return fail(why, "%s along axis %d of %s: the axis is not the batch axis of %lld processes",
                        info->name, n->axis, shape_str(&x->shape, s0, sizeof s0), (long long)procs);
        if ((n->op == IR_REDUCE_SCATTER || n->op == IR_UNSHARD) && x->dtype != IR_F32)
            return fail(why, "%s needs f32", info->name);
        n->shape.d[n->axis].b = to_global ? d.b * (int32_t)procs : d.b / (int32_t)procs;
        return true;
    }
    }
    return fail(why, "unknown op class");
}

/* --------------------------------------------------------------- builders */

IrGraph *ir_graph_new(Arena *a, const char *name) {
    IrGraph *g = arena_alloc(a, sizeof *g);
    g->arena = a;
    g->name = name;
    g->loss = -1;
    g->output = -1;
    return g;
}

int ir_add_node(IrGraph *g, IrNode n) {
    vec_push(g->arena, &g->nodes, n);
    return g->nodes.len - 1;
}

/* Appends n after inferring its shape; a node that breaks its rule keeps what
 * the rule could fill in and is left for ir_verify to report. */
int ir_add_inferred(IrGraph *g, IrNode n) {
    for (int i = 0; i < n.nin; i++)
        if (n.in[i] < 0 || n.in[i] >= g->nodes.len) return ir_add_node(g, n);
    ir_infer(g, &n, NULL);
    return ir_add_node(g, n);
}

static IrNode node(IrOp op, int nin, int a, int b, int c, Span at) {
    IrNode n = {0};
    n.op = op;
    n.nin = nin;
    n.in[0] = a;
    n.in[1] = b;
    n.in[2] = c;
    n.span = at;
    return n;
}

int ir_const(IrGraph *g, double value, IrShape shape, IrDType dt, Span at) {
    IrNode n = node(IR_CONST, 0, 0, 0, 0, at);
    n.a = value;
    n.shape = shape;
    n.dtype = dt;
    return ir_add_inferred(g, n);
}

int ir_unary(IrGraph *g, IrOp op, int x, Span at) {
    return ir_add_inferred(g, node(op, 1, x, 0, 0, at));
}

static const IrShape *shape_of(const IrGraph *g, int id) { return &g->nodes.items[id].shape; }

/* Broadcasts x to `to` unless it already has that shape. */
static int broadcast_if_needed(IrGraph *g, int x, const IrShape *to, Span at) {
    if (ir_shape_eq(shape_of(g, x), to)) return x;
    return ir_broadcast(g, x, *to, at);
}

int ir_binary(IrGraph *g, IrOp op, int x, int y, Span at) {
    IrShape s;
    if (x >= 0 && y >= 0 && x < g->nodes.len && y < g->nodes.len &&
        ir_broadcast_shape(shape_of(g, x), shape_of(g, y), &s)) {
        x = broadcast_if_needed(g, x, &s, at);
        y = broadcast_if_needed(g, y, &s, at);
    }
    return ir_add_inferred(g, node(op, 2, x, y, 0, at));
}

int ir_where(IrGraph *g, int c, int x, int y, Span at) {
    IrShape s, t;
    if (c >= 0 && x >= 0 && y >= 0 && c < g->nodes.len && x < g->nodes.len && y < g->nodes.len &&
        ir_broadcast_shape(shape_of(g, x), shape_of(g, y), &s) &&
        ir_broadcast_shape(shape_of(g, c), &s, &t)) {
        c = broadcast_if_needed(g, c, &t, at);
        x = broadcast_if_needed(g, x, &t, at);
        y = broadcast_if_needed(g, y, &t, at);
    }
    return ir_add_inferred(g, node(IR_WHERE, 3, c, x, y, at));
}

int ir_broadcast(IrGraph *g, int x, IrShape to, Span at) {
    IrNode n = node(IR_BROADCAST, 1, x, 0, 0, at);
    n.shape = to;
    return ir_add_inferred(g, n);
}

int ir_reduce(IrGraph *g, IrOp op, int x, uint32_t axes, Span at) {
    IrNode n = node(op, 1, x, 0, 0, at);
    n.axes = axes;
    return ir_add_inferred(g, n);
}

int ir_reshape(IrGraph *g, int x, IrShape to, Span at) {
    IrNode n = node(IR_RESHAPE, 1, x, 0, 0, at);
    n.shape = to;
    return ir_add_inferred(g, n);
}

int ir_transpose(IrGraph *g, int x, const int *perm, Span at) {
    IrNode n = node(IR_TRANSPOSE, 1, x, 0, 0, at);
    int rank = x >= 0 && x < g->nodes.len ? shape_of(g, x)->rank : 0;
    for (int i = 0; i < rank; i++) n.perm[i] = perm[i];
    return ir_add_inferred(g, n);
}

/* Slice and pad bounds are dims (b*B + c): a concat along the batch axis is
 * sliced back at B in its gradient. */
static int ir_bounded(IrGraph *g, IrOp op, int x, int axis, IrDim lo, IrDim hi, Span at) {
    IrNode n = node(op, 1, x, 0, 0, at);
    n.axis = axis;
    n.start_b = lo.b;
    n.start = lo.c;
    n.end_b = hi.b;
    n.end = hi.c;
    return ir_add_inferred(g, n);
}

int ir_slice(IrGraph *g, int x, int axis, int64_t start, int64_t end, Span at) {
    return ir_bounded(g, IR_SLICE, x, axis, ir_dim_const(start), ir_dim_const(end), at);
}

int ir_pad(IrGraph *g, int x, int axis, int64_t before, int64_t after, Span at) {
    return ir_bounded(g, IR_PAD, x, axis, ir_dim_const(before), ir_dim_const(after), at);
}

int ir_slice_dim(IrGraph *g, int x, int axis, IrDim start, IrDim end, Span at) {
    return ir_bounded(g, IR_SLICE, x, axis, start, end, at);
}

int ir_pad_dim(IrGraph *g, int x, int axis, IrDim before, IrDim after, Span at) {
    return ir_bounded(g, IR_PAD, x, axis, before, after, at);
}

int ir_concat(IrGraph *g, int x, int y, int axis, Span at) {
    IrNode n = node(IR_CONCAT, 2, x, y, 0, at);
    n.axis = axis;
    return ir_add_inferred(g, n);
}

int ir_matmul(IrGraph *g, int x, int y, bool trans_a, bool trans_b, Span at) {
    IrNode n = node(IR_MATMUL, 2, x, y, 0, at);
    n.trans_a = trans_a;
    n.trans_b = trans_b;
    return ir_add_inferred(g, n);
}

int ir_gather(IrGraph *g, int table, int idx, Span at) {
    return ir_add_inferred(g, node(IR_GATHER, 2, table, idx, 0, at));
}

int ir_scatter_add(IrGraph *g, int idx, int rows, IrShape table_shape, Span at) {
    IrNode n = node(IR_SCATTER_ADD, 2, idx, rows, 0, at);
    n.shape = table_shape;
    return ir_add_inferred(g, n);
}

int ir_one_hot(IrGraph *g, int idx, int64_t n_classes, Span at) {
    IrNode n = node(IR_ONE_HOT, 1, idx, 0, 0, at);
    n.dim = ir_dim_const(n_classes);
    return ir_add_inferred(g, n);
}

int ir_random(IrGraph *g, IrOp op, IrShape shape, double a, double b, int stream, Span at) {
    IrNode n = node(op, 0, 0, 0, 0, at);
    n.shape = shape;
    n.a = a;
    n.b = b;
    n.index = stream;
    return ir_add_inferred(g, n);
}

int ir_shift2d(IrGraph *g, int x, int64_t h, int64_t w, int64_t max, int stream, Span at) {
    IrNode n = node(IR_SHIFT2D, 1, x, 0, 0, at);
    n.dim = ir_dim_const(h);
    n.start = w;
    n.end = max;
    n.index = stream;
    return ir_add_inferred(g, n);
}

int ir_unfold(IrGraph *g, int x, IrWindow win, double fill, Span at) {
    IrNode n = node(IR_UNFOLD, 1, x, 0, 0, at);
    n.win = win;
    n.a = fill;
    return ir_add_inferred(g, n);
}

int ir_fold(IrGraph *g, int cols, IrWindow win, Span at) {
    IrNode n = node(IR_FOLD, 1, cols, 0, 0, at);
    n.win = win;
    return ir_add_inferred(g, n);
}

int ir_dimval(IrGraph *g, IrDim d, IrDType dt, Span at) {
    IrNode n = node(IR_DIMVAL, 0, 0, 0, 0, at);
    n.dim = d;
    n.dtype = dt;
    return ir_add_inferred(g, n);
}

int ir_collective(IrGraph *g, IrOp op, int x, int axis, int64_t procs, Span at) {
    IrNode n = node(op, 1, x, 0, 0, at);
    n.axis = op == IR_ALLREDUCE ? 0 : axis;
    n.dim = ir_dim_const(procs);
    return ir_add_inferred(g, n);
}

int ir_arange(IrGraph *g, int64_t count, Span at) {
    IrNode n = node(IR_ARANGE, 0, 0, 0, 0, at);
    n.shape.rank = 1;
    n.shape.d[0] = ir_dim_const(count);
    return ir_add_inferred(g, n);
}

int ir_add_param(IrGraph *g, IrParam p) {
    p.grad = -1;
    vec_push(g->arena, &g->params, p);
    IrNode n = node(IR_PARAM, 0, 0, 0, 0, p.span);
    n.index = g->params.len - 1;
    int id = ir_add_inferred(g, n);
    g->params.items[n.index].node = id;
    return id;
}

int ir_add_input(IrGraph *g, IrInput in) {
    vec_push(g->arena, &g->inputs, in);
    IrNode n = node(IR_INPUT, 0, 0, 0, 0, (Span){0});
    n.index = g->inputs.len - 1;
    int id = ir_add_inferred(g, n);
    g->inputs.items[n.index].node = id;
    return id;
}

void ir_add_report(IrGraph *g, const char *name, int node_id, Span at) {
    IrReport r = {name, at, node_id};
    vec_push(g->arena, &g->reports, r);
}

/* ------------------------------------------------------------- text form */

static const char *init_name(IrInit i) {
    static const char *const names[] = {
        [INIT_GLOROT] = "glorot", [INIT_HE] = "he",         [INIT_ZEROS] = "zeros",
        [INIT_ONES] = "ones",     [INIT_NORMAL] = "normal", [INIT_UNIFORM] = "uniform",
        [INIT_VALUE] = "value",
    };
    return names[i];
}

static void print_attrs(const IrGraph *g, const IrNode *n, StrBuf *out) {
    switch (n->op) {
    case IR_CONST: sb_printf(out, " value=%.9g", n->a); break;
    case IR_DIMVAL: sb_puts(out, " dim="); dim_print(n->dim, out); break;
    case IR_PARAM:
        if (n->index >= 0 && n->index < g->params.len)
            sb_printf(out, " %s%s", g->params.items[n->index].name, g->params.items[n->index].state ? " state" : "");
        break;
    case IR_INPUT:
        if (n->index >= 0 && n->index < g->inputs.len)
            sb_printf(out, " %s.%s", g->inputs.items[n->index].dataset,
                      g->inputs.items[n->index].field);
        break;
    case IR_BERNOULLI:
        sb_printf(out, " p=%.9g stream=%d%s", n->a, n->index, n->dropout_mask ? " dropout" : "");
        break;
    case IR_NORMAL: sb_printf(out, " mean=%.9g std=%.9g stream=%d", n->a, n->b, n->index); break;
    case IR_UNIFORM:
    case IR_RANDINT: sb_printf(out, " lo=%.9g hi=%.9g stream=%d", n->a, n->b, n->index); break;
    case IR_SHIFT2D:
        sb_printf(out, " h=%lld w=%lld max=%lld stream=%d", (long long)n->dim.c,
                  (long long)n->start, (long long)n->end, n->index);
        break;
    case IR_SUM:
    case IR_RMAX:
    case IR_RMIN:
    case IR_ARGMAX: {
        sb_puts(out, " axes=");
        const char *sep = "";
        for (int i = 0; i < 32; i++)
            if (n->axes & (1u << i)) {
                sb_printf(out, "%s%d", sep, i);
                sep = ",";
            }
        break;
    }
    case IR_TRANSPOSE:
        sb_puts(out, " perm=");
        for (int i = 0; i < n->shape.rank; i++) sb_printf(out, "%s%d", i ? "," : "", n->perm[i]);
        break;
    case IR_SLICE:
    case IR_PAD:
        sb_printf(out, " axis=%d %s=", n->axis, n->op == IR_SLICE ? "start" : "before");
        dim_print((IrDim){n->start_b, n->start}, out);
        sb_puts(out, n->op == IR_SLICE ? " end=" : " after=");
        dim_print((IrDim){n->end_b, n->end}, out);
        break;
    case IR_CONCAT: sb_printf(out, " axis=%d", n->axis); break;
    case IR_ONE_HOT: sb_puts(out, " n="); dim_print(n->dim, out); break;
    case IR_UNFOLD:
    case IR_FOLD:
        sb_printf(out, " k=%lldx%lld stride=%lld pad=%lld dil=%lld image=%lldx%lld", (long long)n->win.kh,
                  (long long)n->win.kw, (long long)n->win.stride, (long long)n->win.pad,
                  (long long)n->win.dil, (long long)n->win.h, (long long)n->win.w);
        if (n->op == IR_UNFOLD) sb_printf(out, " fill=%.9g", n->a);
        break;
    case IR_MATMUL:
        if (n->trans_a) sb_puts(out, " trans_a");
        if (n->trans_b) sb_puts(out, " trans_b");
        break;
    case IR_ALLREDUCE: sb_printf(out, " procs=%lld", (long long)n->dim.c); break;
    case IR_ALLGATHER:
    case IR_REDUCE_SCATTER:
    case IR_SHARD:
    case IR_UNSHARD: sb_printf(out, " axis=%d procs=%lld", n->axis, (long long)n->dim.c); break;
    case IR_UPDATE:
        if (n->index >= 0 && n->index < g->params.len)
            sb_printf(out, " %s%s", g->params.items[n->index].name, g->params.items[n->index].state ? " assign" : "");
        break;
    default: break;
    }
}

static void print_node(const IrGraph *g, int id, StrBuf *out) {
    const IrNode *n = &g->nodes.items[id];
    sb_printf(out, "%%%d = %s", id, ir_op_info[n->op].name);
    for (int i = 0; i < n->nin; i++) sb_printf(out, "%s%%%d", i ? ", " : " ", n->in[i]);
    sb_puts(out, " ");
    ir_shape_print(&n->shape, out);
    sb_puts(out, n->dtype == IR_I32 ? " i32" : " f32");
    print_attrs(g, n, out);
    if (n->span.file) sb_printf(out, "  # %s:%d:%d", n->span.file->path, n->span.line, n->span.col);
    sb_puts(out, "\n");
}

void ir_print(const IrGraph *g, StrBuf *out) {
    sb_printf(out, "graph %s\n", g->name ? g->name : "?");
    for (int i = 0; i < g->params.len; i++) {
        const IrParam *p = &g->params.items[i];
        sb_printf(out, "param %d %s ", i, p->name);
        ir_shape_print(&p->shape, out);
        sb_printf(out, " %s %s node=%%%d", init_name(p->init), p->state ? "state" : p->trained ? "trained" : "frozen",
                  p->node);
        if (p->grad >= 0) sb_printf(out, " grad=%%%d", p->grad);
        sb_puts(out, "\n");
    }
    for (int i = 0; i < g->inputs.len; i++) {
        const IrInput *in = &g->inputs.items[i];
        sb_printf(out, "input %d %s.%s ", i, in->dataset, in->field);
        ir_shape_print(&in->shape, out);
        sb_printf(out, " %s node=%%%d\n", in->dtype == IR_I32 ? "i32" : "f32", in->node);
    }
    int n_fwd = g->n_forward > 0 ? g->n_forward : g->nodes.len;
    for (int i = 0; i < g->nodes.len; i++) {
        if (i == n_fwd) sb_puts(out, "backward:\n");
        print_node(g, i, out);
    }
    for (int i = 0; i < g->reports.len; i++)
        sb_printf(out, "report %s = %%%d\n", g->reports.items[i].name, g->reports.items[i].node);
    if (g->loss >= 0) sb_printf(out, "loss = %%%d\n", g->loss);
    if (g->output >= 0) sb_printf(out, "output = %%%d\n", g->output);
}

/* ----------------------------------------------------------------- verify */

bool ir_verify(const IrGraph *g, StrBuf *why) {
    char s0[128], s1[128];
    for (int id = 0; id < g->nodes.len; id++) {
        const IrNode *n = &g->nodes.items[id];
        if ((unsigned)n->op >= IR_OP_COUNT) return fail(why, "%%%d: unknown op %d", id, (int)n->op);
        const IrOpInfo *info = &ir_op_info[n->op];
        if (info->arity >= 0 && n->nin != info->arity)
            return fail(why, "%%%d = %s: %d inputs, expected %d", id, info->name, n->nin,
                        info->arity);
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] < 0 || n->in[k] >= id)
                return fail(why, "%%%d = %s: input %d is %%%d, not an earlier node", id, info->name,
                            k, n->in[k]);
        if (n->shape.rank < 0 || n->shape.rank > IR_MAX_RANK)
            return fail(why, "%%%d = %s: rank %d", id, info->name, n->shape.rank);
        IrNode m = *n;
        StrBuf rule = {0};
        bool ok = ir_infer(g, &m, &rule);
        if (!ok) {
            fail(why, "%%%d = %s: %s", id, info->name, rule.data ? rule.data : "bad node");
            sb_free(&rule);
            return false;
        }
        sb_free(&rule);
        if (!ir_shape_eq(&m.shape, &n->shape))
            return fail(why, "%%%d = %s: shape %s, the rule gives %s", id, info->name,
                        shape_str(&n->shape, s0, sizeof s0), shape_str(&m.shape, s1, sizeof s1));
        if (m.dtype != n->dtype) return fail(why, "%%%d = %s: wrong dtype", id, info->name);
        if (n->eval_with < 0 || n->eval_with > id ||
            (n->eval_with > 0 && !ir_shape_eq(&g->nodes.items[n->eval_with - 1].shape, &n->shape)))
            return fail(why, "%%%d = %s: eval_with %d is not an earlier node of its shape", id, info->name,
                        n->eval_with - 1);
    }
    for (int i = 0; i < g->params.len; i++) {
        const IrParam *p = &g->params.items[i];
        if (p->node < 0 || p->node >= g->nodes.len || g->nodes.items[p->node].op != IR_PARAM ||
            g->nodes.items[p->node].index != i)
            return fail(why, "param %d (%s): node %%%d is not its param node", i, p->name, p->node);
        if (p->state && p->trained) return fail(why, "param %d (%s): state is never trained", i, p->name);
        if (p->grad >= g->nodes.len ||
            (p->grad >= 0 && !ir_shape_eq(&g->nodes.items[p->grad].shape, &p->shape)))
            return fail(why, "param %d (%s): bad gradient node %%%d", i, p->name, p->grad);
    }
    for (int i = 0; i < g->inputs.len; i++) {
        const IrInput *in = &g->inputs.items[i];
        if (in->node < 0 || in->node >= g->nodes.len || g->nodes.items[in->node].op != IR_INPUT ||
            g->nodes.items[in->node].index != i)
            return fail(why, "input %d (%s.%s): node %%%d is not its input node", i, in->dataset,
                        in->field, in->node);
    }
    for (int i = 0; i < g->reports.len; i++) {
        int r = g->reports.items[i].node;
        if (r < 0 || r >= g->nodes.len || ir_shape_numel(&g->nodes.items[r].shape, 2) != 1)
            return fail(why, "report %s: node %%%d is not a scalar", g->reports.items[i].name, r);
    }
    if (g->loss >= g->nodes.len ||
        (g->loss >= 0 && (ir_shape_numel(&g->nodes.items[g->loss].shape, 2) != 1 ||
                          g->nodes.items[g->loss].dtype != IR_F32)))
        return fail(why, "loss %%%d is not an f32 scalar", g->loss);
    if (g->output < -1 || g->output >= g->nodes.len) return fail(why, "output %%%d out of range", g->output);
    if (g->n_forward < 0 || g->n_forward > g->nodes.len)
        return fail(why, "n_forward %d out of range", g->n_forward);
    return true;
}

/* The value of an elementwise op on doubles: the interpreter and constant folding share it. */
double ir_eval_unary(IrOp op, double x) {
    switch (op) {
    case IR_NEG: return -x;
    case IR_EXP: return exp(x);
    case IR_LOG: return log(x);
    case IR_SQRT: return sqrt(x);
    case IR_ABS: return fabs(x);
    case IR_SIGN: return (x > 0) - (x < 0);
    case IR_TANH: return tanh(x);
    case IR_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case IR_RELU: return x > 0 ? x : 0.0;
    default: return x; /* float(), stop_gradient */
    }
}

double ir_eval_binary(IrOp op, double x, double y) {
    switch (op) {
    case IR_ADD: return x + y;
    case IR_SUB: return x - y;
    case IR_MUL: return x * y;
    case IR_DIV: return x / y;
    case IR_POW: return pow(x, y);
    case IR_MAX: return x > y ? x : y;
    case IR_MIN: return x < y ? x : y;
    case IR_EQ: return x == y;
    case IR_NE: return x != y;
    case IR_LT: return x < y;
    case IR_LE: return x <= y;
    case IR_GT: return x > y;
    case IR_GE: return x >= y;
    default: return NAN;
    }
}
