/* lower_image.c — the image built-ins of rl-language.md §8.2 as IR (lower.c
 * reads their arguments and calls these).
 *
 * Two IR ops carry all of them: `unfold` gathers the windows of x [N, C, H, W]
 * into [C, KH, KW, N, OH, OW] (an inlined index computation: im2col), and
 * `fold` is its adjoint (col2im, the runtime's rt_col2im). Then
 *   conv2d           = reshape(w, [O, C*KH*KW]) @ reshape(unfold(x), [C*KH*KW, N*OH*OW]),
 *                      reshaped to [O, N, OH, OW] and transposed to [N, O, OH, OW]
 *                      (one sgemm over the whole batch; its gradients are the
 *                      matmul rules and a fold);
 *   conv_transpose2d = fold(reshape(w, [C, O*KH*KW])^T @ reshape(x^(1,0,2,3), [C, N*H*W]))
 *                      (the input gradient of a conv2d with that weight);
 *   max_pool2d       = reduce_max of unfold(x) filled with -inf over (KH, KW)
 *                      (ties split the gradient as `max` does); windows that tile
 *                      the image reduce x viewed as [N, C, H/k, k, W/k, k] instead;
 *   avg_pool2d       = the sum over the window / (k*k), zeros outside (PyTorch's
 *                      count_include_pad);
 *   upsample2d       = a broadcast of [N, C, H, 1, W, 1] to [N, C, H, f, W, f];
 *   global_avg_pool  = the mean over H and W;
 *   dropout          = x * bernoulli(1 - p) * 1/(1 - p) in a train stage, x elsewhere;
 *   batch_norm       = (x - mu) / sqrt(var + eps) * g + b per channel, mu and var the batch's
 *                      (sums over B, H, W; biased variance) in a train stage, whose step also
 *                      assigns the running statistics (IR_UPDATE of a state tensor), and the
 *                      running ones elsewhere. Gradients through the batch statistics come from
 *                      the rules of the sums, products and the sqrt.
 */
#include "lower.h"

#include <math.h>

static IrDim times(IrDim d, int64_t k) { return (IrDim){(int32_t)(d.b * k), d.c * k}; }

static const IrShape *shape(IrGraph *g, int id) { return &g->nodes.items[id].shape; }

/* [N, O, H, W] from [O, N, H, W]. */
static int swap01(IrGraph *g, int x, Span at) {
    static const int perm[4] = {1, 0, 2, 3};
    return ir_transpose(g, x, perm, at);
}

static IrWindow window(const IrShape *x, int64_t kh, int64_t kw, int64_t stride, int64_t pad, int64_t dil) {
    return (IrWindow){kh, kw, stride, pad, dil, x->d[2].c, x->d[3].c};
}

int lower_conv2d(IrGraph *g, int x, int w, int64_t stride, int64_t pad, int64_t dil, Span at) {
    IrShape xs = *shape(g, x), ws = *shape(g, w);
    int64_t O = ws.d[0].c, K = ws.d[1].c * ws.d[2].c * ws.d[3].c;
    int cols = ir_unfold(g, x, window(&xs, ws.d[2].c, ws.d[3].c, stride, pad, dil), 0.0, at);
    const IrShape *cs = shape(g, cols);
    IrDim N = cs->d[3], OH = cs->d[4], OW = cs->d[5];
    IrDim cols2[2] = {ir_dim_const(K), times(N, OH.c * OW.c)}, w2[2] = {ir_dim_const(O), ir_dim_const(K)};
    int y = ir_matmul(g, ir_reshape(g, w, ir_shape(2, w2), at), ir_reshape(g, cols, ir_shape(2, cols2), at),
                      false, false, at);
    IrDim y4[4] = {ir_dim_const(O), N, OH, OW};
    return swap01(g, ir_reshape(g, y, ir_shape(4, y4), at), at);
}

int lower_conv_transpose2d(IrGraph *g, int x, int w, int64_t stride, int64_t pad, int64_t out_pad, Span at) {
    IrShape xs = *shape(g, x), ws = *shape(g, w);
    IrDim N = xs.d[0];
    int64_t C = xs.d[1].c, H = xs.d[2].c, W = xs.d[3].c;
    int64_t O = ws.d[1].c, KH = ws.d[2].c, KW = ws.d[3].c;
    IrDim x2[2] = {ir_dim_const(C), times(N, H * W)}, w2[2] = {ir_dim_const(C), ir_dim_const(O * KH * KW)};
    int xm = ir_reshape(g, swap01(g, x, at), ir_shape(2, x2), at);
    int cols = ir_matmul(g, ir_reshape(g, w, ir_shape(2, w2), at), xm, true, false, at);
    IrDim c6[6] = {ir_dim_const(O), ir_dim_const(KH), ir_dim_const(KW), N, ir_dim_const(H), ir_dim_const(W)};
    IrWindow win = {KH, KW, stride, pad, 1, (H - 1) * stride - 2 * pad + KH + out_pad,
                    (W - 1) * stride - 2 * pad + KW + out_pad};
    return ir_fold(g, ir_reshape(g, cols, ir_shape(6, c6), at), win, at);
}

/* A pooling whose windows tile the image (stride k, no padding, k divides H and W)
 * is a reduction of x itself viewed as [N, C, H/k, k, W/k, k]: no unfold, no
 * transposes, and its gradient is an elementwise kernel in x's layout instead of
 * a fold. Same values and ties as the windowed form (each pixel is in one window). */
static int tiled_pool(IrGraph *g, int x, bool is_max, int64_t k, Span at) {
    IrShape xs = *shape(g, x);
    IrDim kd = ir_dim_const(k), oh = ir_dim_const(xs.d[2].c / k), ow = ir_dim_const(xs.d[3].c / k);
    IrDim d6[6] = {xs.d[0], xs.d[1], oh, kd, ow, kd}, d4[4] = {xs.d[0], xs.d[1], oh, ow};
    int tiles = ir_reshape(g, x, ir_shape(6, d6), at);
    int r = ir_reduce(g, is_max ? IR_RMAX : IR_SUM, tiles, (1u << 3) | (1u << 5), at);
    return ir_reshape(g, r, ir_shape(4, d4), at);
}

int lower_pool2d(IrGraph *g, int x, bool is_max, int64_t k, int64_t stride, int64_t pad, Span at) {
    IrShape xs = *shape(g, x);
    int y;
    if (stride == k && pad == 0 && xs.d[2].c % k == 0 && xs.d[3].c % k == 0) {
        y = tiled_pool(g, x, is_max, k, at);
    } else {
        int u = ir_unfold(g, x, window(&xs, k, k, stride, pad, 1), is_max ? -INFINITY : 0.0, at);
        int r = ir_reduce(g, is_max ? IR_RMAX : IR_SUM, u, (1u << 1) | (1u << 2), at);
        const IrShape *us = shape(g, u);
        IrDim d4[4] = {us->d[0], us->d[3], us->d[4], us->d[5]};
        y = swap01(g, ir_reshape(g, r, ir_shape(4, d4), at), at);
    }
    if (is_max) return y;
    int scale = ir_const(g, 1.0 / (double)(k * k), (IrShape){0}, IR_F32, at);
    return ir_binary(g, IR_MUL, y, scale, at);
}

int lower_upsample2d(IrGraph *g, int x, int64_t factor, Span at) {
    IrShape xs = *shape(g, x);
    IrDim one = ir_dim_const(1), f = ir_dim_const(factor);
    IrDim d6[6] = {xs.d[0], xs.d[1], xs.d[2], one, xs.d[3], one};
    IrDim b6[6] = {xs.d[0], xs.d[1], xs.d[2], f, xs.d[3], f};
    IrDim d4[4] = {xs.d[0], xs.d[1], times(xs.d[2], factor), times(xs.d[3], factor)};
    int spread = ir_broadcast(g, ir_reshape(g, x, ir_shape(6, d6), at), ir_shape(6, b6), at);
    return ir_reshape(g, spread, ir_shape(4, d4), at);
}

int lower_global_avg_pool(IrGraph *g, int x, Span at) {
    IrShape xs = *shape(g, x);
    int s = ir_reduce(g, IR_SUM, x, (1u << 2) | (1u << 3), at);
    int r = ir_reshape(g, s, ir_shape(2, xs.d), at);
    int scale = ir_const(g, 1.0 / (double)(xs.d[2].c * xs.d[3].c), (IrShape){0}, IR_F32, at);
    return ir_binary(g, IR_MUL, r, scale, at);
}

int lower_dropout(IrGraph *g, int x, double p, bool train, int stream, Span at) {
    if (!train || p == 0) return x;
    int keep = ir_random(g, IR_BERNOULLI, *shape(g, x), 1 - p, 0, stream, at);
    g->nodes.items[keep].dropout_mask = true;
    int scale = ir_const(g, 1.0 / (1 - p), (IrShape){0}, IR_F32, at);
    return ir_binary(g, IR_MUL, ir_binary(g, IR_MUL, x, keep, at), scale, at);
}

/* The value of a state tensor's IR_UPDATE: running (1 - momentum) + momentum batch, both [C]. */
static void assign_running(IrGraph *g, int state, int batch, double momentum, Span at) {
    const IrNode *p = &g->nodes.items[state];
    int keep = ir_const(g, 1 - momentum, (IrShape){0}, IR_F32, at);
    int take = ir_const(g, momentum, (IrShape){0}, IR_F32, at);
    int batch_c = ir_reshape(g, batch, p->shape, at);
    int value = ir_binary(g, IR_ADD, ir_binary(g, IR_MUL, state, keep, at),
                          ir_binary(g, IR_MUL, batch_c, take, at), at);
    IrNode u = {.op = IR_UPDATE, .nin = 2, .in = {state, value}, .index = p->index,
                .shape = p->shape, .dtype = IR_F32, .span = at};
    ir_add_node(g, u);
}

int lower_batch_norm(IrGraph *g, int x, int gamma, int beta, int mean, int var, double momentum,
                     double eps, bool batch_stats, Span at) {
    IrShape xs = *shape(g, x);
    /* [1, C, 1, 1] or [1, C]: a per-channel vector that broadcasts against x */
    IrShape cs = {.rank = xs.rank};
    for (int i = 0; i < xs.rank; i++) cs.d[i] = ir_dim_const(i == 1 ? xs.d[1].c : 1);
    /* the running statistics; in a train stage only pictures (eval-like) read them */
    int mu_run = ir_reshape(g, mean, cs, at), sigma2_run = ir_reshape(g, var, cs, at);
    int mu = mu_run, sigma2 = sigma2_run;
    if (batch_stats) {
        uint32_t axes = xs.rank == 4 ? (1u << 0) | (1u << 2) | (1u << 3) : 1u << 0;
        int64_t per_row = xs.rank == 4 ? xs.d[2].c * xs.d[3].c : 1;
        IrDim rows = xs.d[0];
        int count = ir_dimval(g, (IrDim){rows.b * (int32_t)per_row, rows.c * per_row}, IR_F32, at);
        mu = ir_binary(g, IR_DIV, ir_reduce(g, IR_SUM, x, axes, at), count, at);
        int xc = ir_binary(g, IR_SUB, x, mu, at);
        int squares = ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, xc, xc, at), axes, at);
        sigma2 = ir_binary(g, IR_DIV, squares, count, at);
        /* PyTorch's convention: the running variance takes the unbiased batch variance */
        int one = ir_const(g, 1, (IrShape){0}, IR_F32, at);
        int unbiased = ir_binary(g, IR_DIV, squares, ir_binary(g, IR_SUB, count, one, at), at);
        assign_running(g, mean, mu, momentum, at);
        assign_running(g, var, unbiased, momentum, at);
        g->nodes.items[mu].eval_with = mu_run + 1;
        g->nodes.items[sigma2].eval_with = sigma2_run + 1;
    }
    int eps_c = ir_const(g, eps, (IrShape){0}, IR_F32, at);
    int xn = ir_binary(g, IR_DIV, ir_binary(g, IR_SUB, x, mu, at),
                       ir_unary(g, IR_SQRT, ir_binary(g, IR_ADD, sigma2, eps_c, at), at), at);
    return ir_binary(g, IR_ADD, ir_binary(g, IR_MUL, xn, ir_reshape(g, gamma, cs, at), at),
                     ir_reshape(g, beta, cs, at), at);
}
