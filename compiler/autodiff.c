/* autodiff.c — compile-time reverse-mode differentiation of an IR graph.
 *
 * The backward graph is IR again, appended after the forward nodes. One table
 * of vector-Jacobian rules, indexed by op, says what each op sends back to its
 * inputs; a reverse topological walk from the loss sums the contributions.
 * Only nodes that lie on a path from a trained parameter to the loss get an
 * adjoint, so nothing is computed that no trained parameter needs.
 *
 * Notation in the rule comments: y = the node, x (and w, c) its inputs,
 * g = dL/dy (same shape as y), dx = dL/dx.
 */
#include "ir.h"

typedef struct Ad {
    IrGraph *g;
    bool *needs;     /* node depends on a trained param through differentiable edges */
    int *adj;        /* node id of dL/d(node), or -1 */
    Span at;         /* span of the node whose rule runs: backward nodes point back to it */
} Ad;

static const IrNode *N(const Ad *ad, int id) { return &ad->g->nodes.items[id]; }
static int in(const Ad *ad, int y, int k) { return N(ad, y)->in[k]; }

/* Does the gradient of y's input k matter? (It leads back to a trained param.) */
static bool want(const Ad *ad, int y, int k) { return ad->needs[in(ad, y, k)]; }

/* dL/d(input k of y) += contribution. */
static void send(Ad *ad, int y, int k, int contribution) {
    int x = in(ad, y, k);
    ad->adj[x] = ad->adj[x] < 0 ? contribution
                                : ir_binary(ad->g, IR_ADD, ad->adj[x], contribution, ad->at);
}

static int scalar(Ad *ad, double v) {
    return ir_const(ad->g, v, (IrShape){0}, IR_F32, ad->at);
}
static int zeros_like(Ad *ad, int id) {
    return ir_const(ad->g, 0.0, N(ad, id)->shape, IR_F32, ad->at);
}
static int bin(Ad *ad, IrOp op, int x, int y) { return ir_binary(ad->g, op, x, y, ad->at); }
static int un(Ad *ad, IrOp op, int x) { return ir_unary(ad->g, op, x, ad->at); }

/* Sums g back to shape `to` from which it was broadcast (numpy rules): over
 * the leading axes `to` lacks and over the axes where `to` has 1. */
static int unbroadcast(Ad *ad, int gid, const IrShape *to) {
    IrShape from = N(ad, gid)->shape;
    uint32_t axes = 0;
    int lead = from.rank - to->rank;
    for (int i = 0; i < from.rank; i++) {
        int ti = i - lead;
        bool one = ti >= 0 && to->d[ti].b == 0 && to->d[ti].c == 1;
        bool from_one = from.d[i].b == 0 && from.d[i].c == 1;
        if (ti < 0 || (one && !from_one)) axes |= 1u << i;
    }
    int r = axes ? ir_reduce(ad->g, IR_SUM, gid, axes, ad->at) : gid;
    if (!ir_shape_eq(&N(ad, r)->shape, to)) r = ir_reshape(ad->g, r, *to, ad->at);
    return r;
}

typedef void (*VjpRule)(Ad *ad, int y, int g);

/* ---------------------------------------------------------------- rules */

/* y = broadcast(x): dx = sum of g over the broadcast axes, reshaped to x. */
static void vjp_broadcast(Ad *ad, int y, int g) {
    send(ad, y, 0, unbroadcast(ad, g, &N(ad, in(ad, y, 0))->shape));
}

/* y = -x: dx = -g */
static void vjp_neg(Ad *ad, int y, int g) { send(ad, y, 0, un(ad, IR_NEG, g)); }

/* y = exp x: dx = g * y */
static void vjp_exp(Ad *ad, int y, int g) { send(ad, y, 0, bin(ad, IR_MUL, g, y)); }

/* y = log x: dx = g / x */
static void vjp_log(Ad *ad, int y, int g) { send(ad, y, 0, bin(ad, IR_DIV, g, in(ad, y, 0))); }

/* y = sqrt x: dx = g / (2 y) */
static void vjp_sqrt(Ad *ad, int y, int g) {
    send(ad, y, 0, bin(ad, IR_DIV, g, bin(ad, IR_MUL, scalar(ad, 2.0), y)));
}

/* y = |x|: dx = g * sign(x)   (0 at x = 0) */
static void vjp_abs(Ad *ad, int y, int g) {
    send(ad, y, 0, bin(ad, IR_MUL, g, un(ad, IR_SIGN, in(ad, y, 0))));
}

/* y = tanh x: dx = g * (1 - y^2) */
static void vjp_tanh(Ad *ad, int y, int g) {
    int d = bin(ad, IR_SUB, scalar(ad, 1.0), bin(ad, IR_MUL, y, y));
    send(ad, y, 0, bin(ad, IR_MUL, g, d));
}

/* y = sigmoid x: dx = g * y * (1 - y) */
static void vjp_sigmoid(Ad *ad, int y, int g) {
    int d = bin(ad, IR_MUL, y, bin(ad, IR_SUB, scalar(ad, 1.0), y));
    send(ad, y, 0, bin(ad, IR_MUL, g, d));
}

/* y = relu x: dx = g * [x > 0]   (0 at x = 0) */
static void vjp_relu(Ad *ad, int y, int g) {
    send(ad, y, 0, bin(ad, IR_MUL, g, bin(ad, IR_GT, in(ad, y, 0), scalar(ad, 0.0))));
}

/* y = x + w: dx = g, dw = g */
static void vjp_add(Ad *ad, int y, int g) {
    if (want(ad, y, 0)) send(ad, y, 0, g);
    if (want(ad, y, 1)) send(ad, y, 1, g);
}

/* y = x - w: dx = g, dw = -g */
static void vjp_sub(Ad *ad, int y, int g) {
    if (want(ad, y, 0)) send(ad, y, 0, g);
    if (want(ad, y, 1)) send(ad, y, 1, un(ad, IR_NEG, g));
}

/* y = x * w: dx = g * w, dw = g * x */
static void vjp_mul(Ad *ad, int y, int g) {
    if (want(ad, y, 0)) send(ad, y, 0, bin(ad, IR_MUL, g, in(ad, y, 1)));
    if (want(ad, y, 1)) send(ad, y, 1, bin(ad, IR_MUL, g, in(ad, y, 0)));
}

/* y = x / w: dx = g / w, dw = -g * x / w^2 = -(g * y) / w */
static void vjp_div(Ad *ad, int y, int g) {
    int w = in(ad, y, 1);
    if (want(ad, y, 0)) send(ad, y, 0, bin(ad, IR_DIV, g, w));
    if (want(ad, y, 1)) send(ad, y, 1, un(ad, IR_NEG, bin(ad, IR_DIV, bin(ad, IR_MUL, g, y), w)));
}

/* y = x ^ w: dx = g * w * x^(w-1), dw = g * y * log x */
static void vjp_pow(Ad *ad, int y, int g) {
    int x = in(ad, y, 0), w = in(ad, y, 1);
    if (want(ad, y, 0)) {
        int xw1 = bin(ad, IR_POW, x, bin(ad, IR_SUB, w, scalar(ad, 1.0)));
        send(ad, y, 0, bin(ad, IR_MUL, g, bin(ad, IR_MUL, w, xw1)));
    }
    if (want(ad, y, 1))
        send(ad, y, 1, bin(ad, IR_MUL, g, bin(ad, IR_MUL, y, un(ad, IR_LOG, x))));
}

/* y = max(x, w): dx = g * ([x > w] + 1/2 [x = w]), dw = g * ([w > x] + 1/2 [x = w]).
 * min is the same with the comparisons reversed. A tie splits the gradient in
 * half, so dx + dw = g always. */
static void vjp_minmax(Ad *ad, int y, int g, IrOp wins) {
    int x = in(ad, y, 0), w = in(ad, y, 1);
    int tie = bin(ad, IR_MUL, bin(ad, IR_EQ, x, w), scalar(ad, 0.5));
    if (want(ad, y, 0)) send(ad, y, 0, bin(ad, IR_MUL, g, bin(ad, IR_ADD, bin(ad, wins, x, w), tie)));
    if (want(ad, y, 1)) send(ad, y, 1, bin(ad, IR_MUL, g, bin(ad, IR_ADD, bin(ad, wins, w, x), tie)));
}
static void vjp_max(Ad *ad, int y, int g) { vjp_minmax(ad, y, g, IR_GT); }
static void vjp_min(Ad *ad, int y, int g) { vjp_minmax(ad, y, g, IR_LT); }

/* y = where(c, x, w): dx = where(c, g, 0), dw = where(c, 0, g); c gets none. */
static void vjp_where(Ad *ad, int y, int g) {
    int c = in(ad, y, 0);
    if (want(ad, y, 1)) send(ad, y, 1, ir_where(ad->g, c, g, zeros_like(ad, y), ad->at));
    if (want(ad, y, 2)) send(ad, y, 2, ir_where(ad->g, c, zeros_like(ad, y), g, ad->at));
}

/* y = sum_axes x (kept as size 1): dx = broadcast(g) to x's shape. */
static void vjp_sum(Ad *ad, int y, int g) {
    send(ad, y, 0, ir_broadcast(ad->g, g, N(ad, in(ad, y, 0))->shape, ad->at));
}

/* y = max_axes x: dx = broadcast(g / k) * [x = y], k = number of tied maxima
 * in x's reduced slice: the gradient is divided equally among tied extrema.
 * reduce_min likewise. */
static void vjp_rmax(Ad *ad, int y, int g) {
    const IrNode *n = N(ad, y);
    int x = n->in[0];
    uint32_t axes = n->axes;
    const IrShape xs = N(ad, x)->shape;
    int hit = bin(ad, IR_EQ, x, ir_broadcast(ad->g, y, xs, ad->at));
    int k = ir_reduce(ad->g, IR_SUM, hit, axes, ad->at);
    int share = ir_broadcast(ad->g, bin(ad, IR_DIV, g, k), xs, ad->at);
    send(ad, y, 0, bin(ad, IR_MUL, share, hit));
}

/* y = reshape x: dx = reshape(g) to x's shape */
static void vjp_reshape(Ad *ad, int y, int g) {
    send(ad, y, 0, ir_reshape(ad->g, g, N(ad, in(ad, y, 0))->shape, ad->at));
}

/* y = transpose(x, p) (y axis i = x axis p[i]): dx = transpose(g, p^-1) */
static void vjp_transpose(Ad *ad, int y, int g) {
    const IrNode *n = N(ad, y);
    int inv[IR_MAX_RANK];
    for (int i = 0; i < n->shape.rank; i++) inv[n->perm[i]] = i;
    send(ad, y, 0, ir_transpose(ad->g, g, inv, ad->at));
}

/* y = x[start:end] along axis: dx = pad(g, start before, dim - end after) */
static void vjp_slice(Ad *ad, int y, int g) {
    const IrNode *n = N(ad, y);
    IrDim d = N(ad, n->in[0])->shape.d[n->axis];
    IrDim before = {n->start_b, n->start};
    IrDim after = {d.b - n->end_b, d.c - n->end};
    send(ad, y, 0, ir_pad_dim(ad->g, g, n->axis, before, after, ad->at));
}

/* y = pad(x, before, after) along axis: dx = g[before : before + dim] */
static void vjp_pad(Ad *ad, int y, int g) {
    const IrNode *n = N(ad, y);
    IrDim d = N(ad, n->in[0])->shape.d[n->axis];
    IrDim lo = {n->start_b, n->start};
    IrDim hi = {lo.b + d.b, lo.c + d.c};
    send(ad, y, 0, ir_slice_dim(ad->g, g, n->axis, lo, hi, ad->at));
}

/* y = concat(x, w) along axis: dx = g[0 : dx], dw = g[dx : dx + dw] */
static void vjp_concat(Ad *ad, int y, int g) {
    const IrNode *n = N(ad, y);
    IrDim dx = N(ad, n->in[0])->shape.d[n->axis], dy = n->shape.d[n->axis];
    if (want(ad, y, 0)) send(ad, y, 0, ir_slice_dim(ad->g, g, n->axis, ir_dim_const(0), dx, ad->at));
    if (want(ad, y, 1)) send(ad, y, 1, ir_slice_dim(ad->g, g, n->axis, dx, dy, ad->at));
}

/* y = op(A) @ op(W), op = transpose when the flag is set.
 *   d op(A) = g @ op(W)^T,  d op(W) = op(A)^T @ g
 * and undoing op gives, per flag pair (never a materialized transpose):
 *   A W     : dA = g W^T        dW = A^T g
 *   A W^T   : dA = g W          dW = g^T A
 *   A^T W   : dA = W g^T        dW = A g
 *   A^T W^T : dA = W^T g^T      dW = g^T A^T
 * Batched [G, M, K] operands use the same rules per batch. */
/* The gradient of a 2-D operand shared by every batch element of a batched
 * product: the per-element gradients d [G, ., .] summed over G. */
static int batch_summed(Ad *ad, int d, int x) {
    if (N(ad, d)->shape.rank == N(ad, x)->shape.rank) return d;
    return ir_reshape(ad->g, ir_reduce(ad->g, IR_SUM, d, 1u, ad->at), N(ad, x)->shape, ad->at);
}

static void vjp_matmul(Ad *ad, int y, int g) {
    const IrNode *n = N(ad, y);
    int a = n->in[0], w = n->in[1];
    bool ta = n->trans_a, tw = n->trans_b;
    if (want(ad, y, 0)) {
        int d = !ta ? ir_matmul(ad->g, g, w, false, !tw, ad->at)
                    : ir_matmul(ad->g, w, g, tw, true, ad->at);
        send(ad, y, 0, batch_summed(ad, d, a));
    }
    if (want(ad, y, 1)) {
        int d = !tw ? ir_matmul(ad->g, a, g, !ta, false, ad->at)
                    : ir_matmul(ad->g, g, a, true, ta, ad->at);
        send(ad, y, 1, batch_summed(ad, d, w));
    }
}

/* y = table[idx] (rows): d table = scatter_add(idx, g) — only the rows read
 * receive anything; the index gets none. */
static void vjp_gather(Ad *ad, int y, int g) {
    int table = in(ad, y, 0), idx = in(ad, y, 1);
    send(ad, y, 0, ir_scatter_add(ad->g, idx, g, N(ad, table)->shape, ad->at));
}

/* y = scatter_add(idx, rows): d rows = g[idx] */
static void vjp_scatter_add(Ad *ad, int y, int g) {
    send(ad, y, 1, ir_gather(ad->g, g, in(ad, y, 0), ad->at));
}

/* y = unfold(x) (windows of x): dx = fold(g), each window element's gradient
 * added back to the image element it read; the fill read outside x gets none. */
static void vjp_unfold(Ad *ad, int y, int g) {
    send(ad, y, 0, ir_fold(ad->g, g, N(ad, y)->win, ad->at));
}

/* y = fold(x): every element of x was added into one element of y (or dropped
 * outside it), so dx = unfold(g) with zeros where x's window leaves the image. */
static void vjp_fold(Ad *ad, int y, int g) {
    send(ad, y, 0, ir_unfold(ad->g, g, N(ad, y)->win, 0.0, ad->at));
}

/* Collectives (docs/mpi.md): each process holds its own copy of a replicated
 * value, and the gradient of a copy is its part of the whole, so each rule is
 * the adjoint over all processes. y = allreduce(x): every copy of y is the sum of
 * every x, dx = allreduce(g). y = allgather(x): dx = this process's rows of the
 * sum of every process's g, reduce_scatter(g); and the other way round. y =
 * shard(x): dx = g in this process's rows, zeros elsewhere, unshard(g); and back. */
/* Whether n is computed from constants and the batch size alone, so every process
 * holds the same value (memo: 0 unknown, 1 yes, 2 no). */
static bool same_everywhere(const IrGraph *g, int n, char *memo) {
    if (memo[n]) return memo[n] == 1;
    const IrNode *x = &g->nodes.items[n];
    IrClass cls = ir_op_info[x->op].cls;
    bool same = x->op == IR_CONST || x->op == IR_DIMVAL || x->op == IR_ARANGE;
    if (cls != IRC_LEAF && cls != IRC_RANDOM && cls != IRC_COLLECTIVE && cls != IRC_UPDATE) {
        same = true;
        for (int i = 0; i < x->nin && same; i++) same = same_everywhere(g, x->in[i], memo);
    }
    memo[n] = same ? 1 : 2;
    return same;
}

static void vjp_collective(Ad *ad, int y, int g) {
    static const IrOp adjoint[IR_OP_COUNT] = {
        [IR_ALLREDUCE] = IR_ALLREDUCE, [IR_ALLGATHER] = IR_REDUCE_SCATTER,
        [IR_REDUCE_SCATTER] = IR_ALLGATHER, [IR_SHARD] = IR_UNSHARD, [IR_UNSHARD] = IR_SHARD,
    };
    const IrNode *n = N(ad, y);
    if (n->op == IR_ALLREDUCE &&
        same_everywhere(ad->g, g, arena_alloc(ad->g->arena, (size_t)ad->g->nodes.len))) {
        /* A mean's seed 1/count, the same on every process: its sum over the processes
         * is g + g + ... in rank order, the runtime's order, with no exchange (one
         * synchronisation less in the forward pass). */
        int sum = g;
        for (int64_t r = 1; r < n->dim.c; r++) sum = ir_binary(ad->g, IR_ADD, sum, g, ad->at);
        send(ad, y, 0, sum);
        return;
    }
    send(ad, y, 0, ir_collective(ad->g, adjoint[n->op], g, n->axis, n->dim.c, ad->at));
}

/* The table: ops without a rule (leaves, random sources, comparisons, sign,
 * argmax, one_hot, float(), stop_gradient, update) pass no gradient back. */
static const VjpRule vjp_rules[IR_OP_COUNT] = {
    [IR_BROADCAST] = vjp_broadcast,
    [IR_NEG] = vjp_neg,
    [IR_EXP] = vjp_exp,
    [IR_LOG] = vjp_log,
    [IR_SQRT] = vjp_sqrt,
    [IR_ABS] = vjp_abs,
    [IR_TANH] = vjp_tanh,
    [IR_SIGMOID] = vjp_sigmoid,
    [IR_RELU] = vjp_relu,
    [IR_ADD] = vjp_add,
    [IR_SUB] = vjp_sub,
    [IR_MUL] = vjp_mul,
    [IR_DIV] = vjp_div,
    [IR_POW] = vjp_pow,
    [IR_MAX] = vjp_max,
    [IR_MIN] = vjp_min,
    [IR_WHERE] = vjp_where,
    [IR_SUM] = vjp_sum,
    [IR_RMAX] = vjp_rmax,
    [IR_RMIN] = vjp_rmax,
    [IR_RESHAPE] = vjp_reshape,
    [IR_TRANSPOSE] = vjp_transpose,
    [IR_SLICE] = vjp_slice,
    [IR_PAD] = vjp_pad,
    [IR_CONCAT] = vjp_concat,
    [IR_MATMUL] = vjp_matmul,
    [IR_GATHER] = vjp_gather,
    [IR_SCATTER_ADD] = vjp_scatter_add,
    [IR_UNFOLD] = vjp_unfold,
    [IR_FOLD] = vjp_fold,
    [IR_ALLREDUCE] = vjp_collective,
    [IR_ALLGATHER] = vjp_collective,
    [IR_REDUCE_SCATTER] = vjp_collective,
    [IR_SHARD] = vjp_collective,
    [IR_UNSHARD] = vjp_collective,
};

/* Does a gradient flow from y back into its input k? */
static bool flows(const IrNode *y, int k) {
    if (!vjp_rules[y->op] || y->dtype != IR_F32) return false;
    if (y->op == IR_WHERE) return k > 0;
    if (y->op == IR_GATHER) return k == 0;
    if (y->op == IR_SCATTER_ADD) return k == 1;
    return true;
}

/* A gradient that is a sum of scatter_adds of rows: the optimizer updates only
 * those rows (interp.c and fuse.c recognise the same form). */
static bool is_rows_grad(const IrGraph *g, int id) {
    const IrNode *x = &g->nodes.items[id];
    if (x->op == IR_SCATTER_ADD) return true;
    return x->op == IR_ADD && is_rows_grad(g, x->in[0]) && is_rows_grad(g, x->in[1]);
}

/* The rows gradient `grad` times the scalar `scale`, still a sum of scatters:
 * the rows are scaled before they are added, so the update stays sparse. */
static int scale_rows(IrGraph *g, int grad, int scale, Span at) {
    IrNode x = g->nodes.items[grad];
    if (x.op == IR_ADD)
        return ir_binary(g, IR_ADD, scale_rows(g, x.in[0], scale, at), scale_rows(g, x.in[1], scale, at), at);
    return ir_scatter_add(g, x.in[0], ir_binary(g, IR_MUL, x.in[1], scale, at), x.shape, at);
}

/* clip_grad_norm: X (PyTorch's clip_grad_norm_): the gradients of all the
 * stage's trained parameters, taken together as one vector of L2 norm n, are
 * multiplied by min(1, X / (n + 1e-6)) before the optimizer sees them
 * (update_grad[i]: what param i's update reads; IrParam.grad stays the true
 * gradient, which gradcheck compares). Built in
 * the graph, so the interpreter and the compiled step run the same nodes and the
 * scale fuses into each dense update; a rows gradient's norm is that of its
 * summed rows (the dense scatter), as PyTorch's dense embedding gradient. */
static void clip_gradients(IrGraph *g, int *update_grad) {
    int total = -1;
    Span at = {0};
    IrShape scalar = ir_shape(0, NULL);
    for (int i = 0; i < g->params.len; i++) {
        const IrParam *p = &g->params.items[i];
        if (p->grad < 0) continue;
        at = p->span;
        int rank = g->nodes.items[p->grad].shape.rank;
        int sq = ir_binary(g, IR_MUL, p->grad, p->grad, at);
        if (rank > 0) sq = ir_reshape(g, ir_reduce(g, IR_SUM, sq, (1u << rank) - 1, at), scalar, at);
        total = total < 0 ? sq : ir_binary(g, IR_ADD, total, sq, at);
    }
    if (total < 0) return;
    int norm = ir_binary(g, IR_ADD, ir_unary(g, IR_SQRT, total, at), ir_const(g, 1e-6, scalar, IR_F32, at), at);
    int scale = ir_binary(g, IR_MIN, ir_const(g, 1.0, scalar, IR_F32, at),
                          ir_binary(g, IR_DIV, ir_const(g, g->optim.clip_norm, scalar, IR_F32, at), norm, at), at);
    for (int i = 0; i < g->params.len; i++) {
        const IrParam *p = &g->params.items[i];
        if (p->grad < 0) continue;
        update_grad[i] = is_rows_grad(g, p->grad) ? scale_rows(g, p->grad, scale, p->span)
                                                  : ir_binary(g, IR_MUL, p->grad, scale, p->span);
    }
}

/* Sharded (shard.c): each process holds its copy of the loss and of every
 * parameter, and has differentiated the sum of the N copies of the loss; the
 * gradient of the one loss is the mean of the copies' gradients. The gradients go
 * over the processes in buckets, as in DDP and Horovod: taken in the order the
 * backward pass computes them (their node ids), flattened and joined while a
 * bucket stays within AD_BUCKET_BYTES (a larger gradient is a bucket alone),
 * one all-reduce each; the kernel plan starts each bucket's all-reduce as soon
 * as its gradients exist and waits for it before the first reader of its sums
 * (fuse.c), so the transfers run while the backward pass goes on. */
static void all_reduce_bucket(IrGraph *g, const int *params, int count) {
    Span at = g->params.items[params[count - 1]].span;
    int bucket = -1;
    for (int i = 0; i < count; i++) {
        const IrParam *p = &g->params.items[params[i]];
        IrDim n = ir_dim_const(ir_shape_numel(&p->shape, 0));
        int flat = ir_reshape(g, p->grad, ir_shape(1, &n), at);
        bucket = bucket < 0 ? flat : ir_concat(g, bucket, flat, 0, at);
    }
    int sum = ir_collective(g, IR_ALLREDUCE, bucket, 0, g->procs, at);
    int inv_procs = ir_const(g, 1.0 / (double)g->procs, (IrShape){0}, IR_F32, at);
    /* Each parameter's part of the sums is sliced, then scaled: the kernel plan
     * reads a slice of an all-reduce's sums in place (fuse.c), and the scaling
     * goes into the optimizer's update, so the bucket is not copied again. */
    int64_t offset = 0;
    for (int i = 0; i < count; i++) {
        IrParam *p = &g->params.items[params[i]];
        int64_t n = ir_shape_numel(&p->shape, 0);
        int part = count == 1 ? sum : ir_slice(g, sum, 0, offset, offset + n, p->span);
        p->grad = ir_binary(g, IR_MUL, ir_reshape(g, part, p->shape, p->span), inv_procs, p->span);
        offset += n;
    }
}

static void mean_over_processes(IrGraph *g) {
    /* the parameters with a gradient, by their gradient's node id (insertion sort: few) */
    int *order = arena_alloc(g->arena, sizeof(int) * (size_t)(g->params.len + 1)), count = 0;
    for (int i = 0; i < g->params.len; i++) {
        if (g->params.items[i].grad < 0) continue;
        int at = count++;
        while (at > 0 && g->params.items[order[at - 1]].grad > g->params.items[i].grad) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = i;
    }
    int first = 0;
    int64_t bytes = 0;
    for (int i = 0; i < count; i++) {
        int64_t more = 4 * ir_shape_numel(&g->params.items[order[i]].shape, 0);
        if (i > first && bytes + more > AD_BUCKET_BYTES) {
            all_reduce_bucket(g, order + first, i - first);
            first = i;
            bytes = 0;
        }
        bytes += more;
    }
    if (count > first) all_reduce_bucket(g, order + first, count - first);
}

void ad_differentiate(IrGraph *g) {
    int n = g->nodes.len;
    g->n_forward = n;
    if (g->loss < 0) return;
    Ad ad = {.g = g};
    ad.needs = arena_alloc(g->arena, sizeof(bool) * (size_t)n);
    ad.adj = arena_alloc(g->arena, sizeof(int) * (size_t)n);
    bool *useful = arena_alloc(g->arena, sizeof(bool) * (size_t)n);

    for (int i = 0; i < g->params.len; i++)
        if (g->params.items[i].trained) ad.needs[g->params.items[i].node] = true;
    for (int id = 0; id < n; id++) {
        const IrNode *y = &g->nodes.items[id];
        for (int k = 0; k < y->nin; k++)
            if (ad.needs[y->in[k]] && flows(y, k)) ad.needs[id] = true;
    }
    /* Only nodes the loss depends on carry an adjoint. */
    useful[g->loss] = true;
    for (int id = n - 1; id >= 0; id--) {
        ad.adj[id] = -1;
        if (!useful[id]) continue;
        const IrNode *y = &g->nodes.items[id];
        for (int k = 0; k < y->nin; k++) useful[y->in[k]] = true;
    }

    if (ad.needs[g->loss]) {
        ad.at = g->nodes.items[g->loss].span;
        ad.adj[g->loss] = ir_const(g, 1.0, g->nodes.items[g->loss].shape, IR_F32, ad.at);
    }
    for (int id = n - 1; id >= 0; id--) {
        if (ad.adj[id] < 0 || !ad.needs[id] || !useful[id]) continue;
        const IrNode *y = &g->nodes.items[id];
        if (!vjp_rules[y->op]) continue;
        bool any = false;
        for (int k = 0; k < y->nin; k++) any |= flows(y, k) && ad.needs[y->in[k]];
        if (!any) continue;
        ad.at = y->span;
        vjp_rules[y->op](&ad, id, ad.adj[id]);
    }

    /* A trained param the loss does not reach gets no gradient and no update
     * (as in PyTorch, where its .grad stays None). */
    for (int i = 0; i < g->params.len; i++) {
        IrParam *p = &g->params.items[i];
        p->grad = -1;
        if (p->trained && ad.adj[p->node] >= 0) p->grad = ad.adj[p->node];
    }
    if (g->procs > 1) mean_over_processes(g);
    int *update_grad = arena_alloc(g->arena, sizeof(int) * (size_t)(g->params.len + 1));
    for (int i = 0; i < g->params.len; i++) update_grad[i] = g->params.items[i].grad;
    if (g->optim.clip_norm > 0) clip_gradients(g, update_grad);
    for (int i = 0; i < g->params.len; i++) {
        IrParam *p = &g->params.items[i];
        if (p->grad < 0) continue;
        IrNode u = {0};
        u.op = IR_UPDATE;
        u.nin = 2;
        u.in[0] = p->node;
        u.in[1] = update_grad[i];
        u.index = i;
        u.shape = p->shape;
        u.dtype = IR_F32;
        u.span = p->span;
        ir_add_node(g, u);
    }
    for (int id = n; id < g->nodes.len; id++) g->nodes.items[id].backward = true;
}
