/* interp.c — the reference interpreter: the oracle compiled steps are checked
 * against. Every node is one plain loop over its elements, in double; nothing
 * is fused or reordered, so a wrong answer here is a wrong rule, not a wrong
 * optimization. */
#include "interp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Dims of a shape at this B, and row-major strides. */
typedef struct Dims {
    int rank;
    int64_t d[IR_MAX_RANK];
    int64_t st[IR_MAX_RANK];
    int64_t n;
} Dims;

static Dims dims_of(const IrShape *s, int64_t B) {
    Dims r = {.rank = s->rank, .n = 1};
    for (int i = s->rank - 1; i >= 0; i--) {
        r.d[i] = ir_dim_value(s->d[i], B);
        r.st[i] = r.n;
        r.n *= r.d[i];
    }
    return r;
}

static void unravel(int64_t flat, const Dims *s, int64_t *idx) {
    for (int i = 0; i < s->rank; i++) {
        idx[i] = s->d[i] ? flat / s->st[i] : 0;
        flat -= idx[i] * s->st[i];
    }
}

typedef struct Ev {
    InterpRun *r;
    const IrGraph *g;
    int64_t B;
} Ev;

static const IrNode *node_at(const Ev *e, int id) { return &e->g->nodes.items[id]; }
static Dims dims(const Ev *e, int id) { return dims_of(&node_at(e, id)->shape, e->B); }
static const double *val(const Ev *e, const IrNode *n, int k) { return e->r->v[n->in[k]]; }

static const int coll_kind[IR_OP_COUNT] = {
    [IR_ALLREDUCE] = RT_COLL_ALLREDUCE, [IR_ALLGATHER] = RT_COLL_ALLGATHER,
    [IR_REDUCE_SCATTER] = RT_COLL_REDUCE_SCATTER, [IR_SHARD] = RT_COLL_SHARD,
    [IR_UNSHARD] = RT_COLL_UNSHARD,
};

/* A collective through the runtime (mpi.c), on the interpreter's doubles (an
 * i32 id is exact in a double, so gathers and shards move ids as they are). */
static bool eval_collective(Ev *e, const IrNode *n, double *out) {
    const IrNode *x = node_at(e, n->in[0]);
    Dims in = dims(e, n->in[0]);
    /* the local side of the batch axis: the input of a gather or unshard, else the output */
    bool to_global = n->op == IR_ALLGATHER || n->op == IR_UNSHARD;
    const IrShape *local = to_global ? &x->shape : &n->shape;
    int64_t outer = 1, inner = 1, blocks = 1, rows = 1;
    if (n->op == IR_ALLREDUCE) inner = in.n;
    else {
        for (int i = 0; i < n->axis; i++) outer *= ir_dim_value(local->d[i], e->B);
        for (int i = n->axis + 1; i < local->rank; i++) inner *= ir_dim_value(local->d[i], e->B);
        blocks = local->d[n->axis].b;
        rows = e->B;
    }
    rt_collective_f64(coll_kind[n->op], n->dim.c, out, val(e, n, 0), outer, blocks, rows, inner);
    return true;
}

static const int rand_kind[IR_OP_COUNT] = {
    [IR_BERNOULLI] = RT_RAND_BERNOULLI, [IR_NORMAL] = RT_RAND_NORMAL,
    [IR_UNIFORM] = RT_RAND_UNIFORM,     [IR_RANDINT] = RT_RAND_RANDINT,
};

/* Draws through the runtime's RNG so the interpreter and compiled code see the
 * same numbers. False when the scratch buffer cannot be allocated. */
static bool eval_random(Ev *e, const IrNode *n, double *out, int64_t count) {
    InterpRun *r = e->r;
    if (n->dropout_mask && r->mean_masks) {
        for (int64_t i = 0; i < count; i++) out[i] = n->a;
        return true;
    }
    if (n->op == IR_SHIFT2D) {
        Dims in = dims(e, n->in[0]);
        float *buf = malloc(sizeof(float) * (size_t)(2 * count + 1));
        if (!buf) return false;
        const double *x = val(e, n, 0);
        for (int64_t i = 0; i < count; i++) buf[i] = (float)x[i];
        rt_shift2d(buf + count, buf, in.d[0], n->dim.c, n->start, n->end, r->seed,
                   (uint64_t)n->index, (uint64_t)r->step);
        for (int64_t i = 0; i < count; i++) out[i] = buf[count + i];
        free(buf);
        return true;
    }
    if (n->op == IR_RANDINT) {
        int32_t *buf = malloc(sizeof(int32_t) * (size_t)(count + 1));
        if (!buf) return false;
        rt_random_fill(RT_RAND_RANDINT, buf, 0, count, n->a, n->b, r->seed, (uint64_t)n->index,
                       (uint64_t)r->step);
        for (int64_t i = 0; i < count; i++) out[i] = buf[i];
        free(buf);
        return true;
    }
    float *buf = malloc(sizeof(float) * (size_t)(count + 1));
    if (!buf) return false;
    rt_random_fill(rand_kind[n->op], buf, 0, count, n->a, n->b, r->seed, (uint64_t)n->index,
                   (uint64_t)r->step);
    for (int64_t i = 0; i < count; i++) out[i] = buf[i];
    free(buf);
    return true;
}

static bool eval_reduce(Ev *e, const IrNode *n, double *out, const Dims *od) {
    Dims xd = dims(e, n->in[0]);
    const double *x = val(e, n, 0);
    double init = n->op == IR_SUM ? 0.0 : n->op == IR_RMIN ? INFINITY : -INFINITY;
    double *best = NULL;
    if (n->op == IR_ARGMAX && !(best = malloc(sizeof(double) * (size_t)(od->n + 1)))) return false;
    double *acc = best ? best : out;
    for (int64_t i = 0; i < od->n; i++) acc[i] = init;
    int64_t idx[IR_MAX_RANK];
    for (int64_t i = 0; i < xd.n; i++) {
        unravel(i, &xd, idx);
        int64_t o = 0, along = 0;
        for (int a = 0; a < xd.rank; a++) {
            if (n->axes & (1u << a)) along = idx[a];
            else o += idx[a] * od->st[a];
        }
        switch (n->op) {
        case IR_SUM: acc[o] += x[i]; break;
        case IR_RMAX: if (x[i] > acc[o] || isnan(x[i])) acc[o] = x[i]; break;
        case IR_RMIN: if (x[i] < acc[o] || isnan(x[i])) acc[o] = x[i]; break;
        default: /* argmax: the first maximum wins */
            if (x[i] > best[o] || along == 0) {
                best[o] = x[i];
                out[o] = (double)along;
            }
            break;
        }
    }
    free(best);
    return true;
}

/* Each output element accumulates its K products in order k = 0, 1, ... in
 * double. Without trans_b the loop runs i, k, j so both B and the output are
 * read along rows (a column walk of a [784, 512] B misses the cache on every
 * element); the order each element sums in is the same either way. */
static void eval_matmul(Ev *e, const IrNode *n, double *out) {
    Dims ad = dims(e, n->in[0]), bd = dims(e, n->in[1]), od = dims_of(&n->shape, e->B);
    const double *A = val(e, n, 0), *Bm = val(e, n, 1);
    int r = od.rank, ra = ad.rank, rb = bd.rank;
    int64_t G = r == 3 ? od.d[0] : 1, M = od.d[r - 2], N = od.d[r - 1];
    int64_t K = n->trans_a ? ad.d[ra - 2] : ad.d[ra - 1];
    /* a 2-D operand of a batched product is every batch element's: stride 0 */
    int64_t as = ra == 3 ? ad.d[1] * ad.d[2] : 0, bs = rb == 3 ? bd.d[1] * bd.d[2] : 0;
    /* op(A)[i, k] is at a[i*ai + k*ak] */
    int64_t ai = n->trans_a ? 1 : K, ak = n->trans_a ? M : 1;
    for (int64_t gi = 0; gi < G; gi++) {
        const double *a = A + gi * as, *b = Bm + gi * bs;
        for (int64_t i = 0; i < M; i++) {
            double *o = out + gi * M * N + i * N;
            if (n->trans_b) {
                for (int64_t j = 0; j < N; j++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++) s += a[i * ai + k * ak] * b[j * K + k];
                    o[j] = s;
                }
                continue;
            }
            for (int64_t j = 0; j < N; j++) o[j] = 0;
            for (int64_t k = 0; k < K; k++) {
                double av = a[i * ai + k * ak];
                const double *brow = b + k * N;
                for (int64_t j = 0; j < N; j++) o[j] += av * brow[j];
            }
        }
    }
}

/* gather / scatter_add: a row of the table is everything after its first axis.
 * Indices outside the table read zeros and write nowhere. */
static void eval_gather(Ev *e, const IrNode *n, double *out, const Dims *od) {
    bool gather = n->op == IR_GATHER;
    int tab = gather ? n->in[0] : -1, ix = gather ? n->in[1] : n->in[0];
    Dims td = gather ? dims(e, tab) : *od;
    int64_t V = td.rank ? td.d[0] : 0, width = V ? td.n / V : 0;
    Dims id = dims(e, ix);
    const double *idx = e->r->v[ix];
    const double *src = val(e, n, gather ? 0 : 1);
    if (!gather) memset(out, 0, sizeof(double) * (size_t)od->n);
    for (int64_t i = 0; i < id.n; i++) {
        int64_t row = (int64_t)idx[i];
        bool ok = row >= 0 && row < V;
        for (int64_t k = 0; k < width; k++) {
            if (gather) out[i * width + k] = ok ? src[row * width + k] : 0.0;
            else if (ok) out[row * width + k] += src[i * width + k];
        }
    }
}

/* The image element that window element (c, i, j, n, p, q) of an unfold reads,
 * or -1 when it lies outside the image (xd: [N, C, H, W]). */
static int64_t window_source(const IrWindow *w, const Dims *xd, const int64_t *idx) {
    int64_t h = idx[4] * w->stride - w->pad + idx[1] * w->dil;
    int64_t v = idx[5] * w->stride - w->pad + idx[2] * w->dil;
    if (h < 0 || h >= xd->d[2] || v < 0 || v >= xd->d[3]) return -1;
    return idx[3] * xd->st[0] + idx[0] * xd->st[1] + h * xd->st[2] + v * xd->st[3];
}

/* fold: every window element added back into the image element it was read
 * from, in the order of the windows' elements. */
static void eval_fold(Ev *e, const IrNode *n, double *out, const Dims *od) {
    const double *x = val(e, n, 0);
    Dims xd = dims(e, n->in[0]);
    int64_t idx[IR_MAX_RANK];
    for (int64_t o = 0; o < od->n; o++) out[o] = 0;
    for (int64_t i = 0; i < xd.n; i++) {
        unravel(i, &xd, idx);
        int64_t to = window_source(&n->win, od, idx);
        if (to >= 0) out[to] += x[i];
    }
}

/* Movement ops: each output element reads one input element (or zero). */
static void eval_move(Ev *e, const IrNode *n, double *out, const Dims *od) {
    const double *x = val(e, n, 0);
    Dims xd = dims(e, n->in[0]);
    int64_t idx[IR_MAX_RANK];
    if (n->op == IR_RESHAPE) {
        memcpy(out, x, sizeof(double) * (size_t)od->n);
        return;
    }
    if (n->op == IR_ONE_HOT) {
        int64_t k = ir_dim_value(n->dim, e->B);
        for (int64_t i = 0; i < xd.n; i++)
            for (int64_t j = 0; j < k; j++) out[i * k + j] = (int64_t)x[i] == j;
        return;
    }
    if (n->op == IR_UNFOLD) {
        for (int64_t o = 0; o < od->n; o++) {
            unravel(o, od, idx);
            int64_t from = window_source(&n->win, &xd, idx);
            out[o] = from >= 0 ? x[from] : n->a;
        }
        return;
    }
    int64_t lo = ir_dim_value((IrDim){n->start_b, n->start}, e->B);
    for (int64_t o = 0; o < od->n; o++) {
        unravel(o, od, idx);
        int64_t off = 0;
        const double *src = x;
        const Dims *sd = &xd;
        Dims yd;
        switch (n->op) {
        case IR_BROADCAST: {
            int lead = od->rank - xd.rank;
            for (int a = 0; a < xd.rank; a++)
                off += (xd.d[a] == 1 ? 0 : idx[a + lead]) * xd.st[a];
            break;
        }
        case IR_TRANSPOSE:
            for (int a = 0; a < od->rank; a++) off += idx[a] * xd.st[n->perm[a]];
            break;
        case IR_SLICE:
            idx[n->axis] += lo;
            for (int a = 0; a < od->rank; a++) off += idx[a] * xd.st[a];
            break;
        case IR_PAD:
            idx[n->axis] -= lo;
            if (idx[n->axis] < 0 || idx[n->axis] >= xd.d[n->axis]) {
                out[o] = 0;
                continue;
            }
            for (int a = 0; a < od->rank; a++) off += idx[a] * xd.st[a];
            break;
        case IR_CONCAT:
            if (idx[n->axis] >= xd.d[n->axis]) {
                idx[n->axis] -= xd.d[n->axis];
                yd = dims(e, n->in[1]);
                sd = &yd;
                src = val(e, n, 1);
            }
            for (int a = 0; a < od->rank; a++) off += idx[a] * sd->st[a];
            break;
        default: break;
        }
        out[o] = src[off];
    }
}

static bool eval_node(Ev *e, int id) {
    const IrNode *n = node_at(e, id);
    InterpRun *r = e->r;
    Dims od = dims_of(&n->shape, e->B);
    double *out = malloc(sizeof(double) * (size_t)(od.n + 1));
    if (!out) return false;
    r->v[id] = out;
    const double *x = n->nin > 0 ? val(e, n, 0) : NULL;
    const double *y = n->nin > 1 ? val(e, n, 1) : NULL;
    switch (ir_op_info[n->op].cls) {
    case IRC_LEAF:
        for (int64_t i = 0; i < od.n; i++) {
            switch (n->op) {
            case IR_CONST: out[i] = n->a; break;
            case IR_DIMVAL: out[i] = (double)ir_dim_value(n->dim, e->B); break;
            case IR_ARANGE: out[i] = (double)i; break;
            case IR_PARAM:
                out[i] = r->params_f64 ? r->params_f64[n->index][i] : r->params_f32[n->index][i];
                break;
            default: /* input */
                out[i] = n->dtype == IR_I32 ? ((const int32_t *)r->inputs[n->index])[i]
                                            : ((const float *)r->inputs[n->index])[i];
                break;
            }
        }
        break;
    case IRC_RANDOM:
        if (!eval_random(e, n, out, od.n)) return false;
        break;
    case IRC_UNARY:
        for (int64_t i = 0; i < od.n; i++) out[i] = ir_eval_unary(n->op, x[i]);
        break;
    case IRC_BINARY: {
        bool i32 = n->dtype == IR_I32;
        for (int64_t i = 0; i < od.n; i++) {
            out[i] = ir_eval_binary(n->op, x[i], y[i]);
            /* i32 arithmetic wraps like the compiled code's 32-bit integers */
            if (i32) out[i] = (double)(int32_t)(uint32_t)(int64_t)out[i];
        }
        break;
    }
    case IRC_TERNARY: {
        const double *z = val(e, n, 2);
        for (int64_t i = 0; i < od.n; i++) out[i] = x[i] != 0 ? y[i] : z[i];
        break;
    }
    case IRC_REDUCE:
        if (!eval_reduce(e, n, out, &od)) return false;
        break;
    case IRC_MOVE: eval_move(e, n, out, &od); break;
    case IRC_MATMUL: eval_matmul(e, n, out); break;
    case IRC_GATHER: eval_gather(e, n, out, &od); break;
    case IRC_WINDOW: eval_fold(e, n, out, &od); break;
    case IRC_UPDATE: break;
    case IRC_COLLECTIVE:
        if (!eval_collective(e, n, out)) return false;
        break;
    }
    if (r->f32 && n->dtype == IR_F32)
        for (int64_t i = 0; i < od.n; i++) out[i] = (float)out[i];
    return true;
}

bool interp_run(InterpRun *r) {
    const IrGraph *g = r->g;
    r->first_nonfinite = -1;
    r->v = calloc((size_t)g->nodes.len + 1, sizeof(double *));
    if (!r->v) return false;
    Ev e = {.r = r, .g = g, .B = r->B};
    for (int id = 0; id < g->nodes.len; id++) {
        const IrNode *n = &g->nodes.items[id];
        if (n->op == IR_UPDATE) continue;
        const double *fixed = r->fixed ? r->fixed[id] : NULL;
        if (n->eval_with > 0 && r->mean_masks) fixed = r->v[n->eval_with - 1];
        if (fixed) {
            int64_t cnt = ir_shape_numel(&n->shape, r->B);
            if (!(r->v[id] = malloc(sizeof(double) * (size_t)(cnt + 1)))) return false;
            memcpy(r->v[id], fixed, sizeof(double) * (size_t)cnt);
        } else if (!eval_node(&e, id)) {
            return false;
        }
        if (r->first_nonfinite < 0) {
            int64_t cnt = ir_shape_numel(&n->shape, r->B);
            for (int64_t i = 0; i < cnt; i++)
                if (!isfinite(r->v[id][i])) {
                    r->first_nonfinite = id;
                    break;
                }
            if (r->first_nonfinite >= 0 && r->stop_at_nonfinite) return true;
        }
    }
    return true;
}

void interp_run_free(InterpRun *r) {
    if (!r->v) return;
    for (int i = 0; i < r->g->nodes.len; i++) free(r->v[i]);
    free(r->v);
    r->v = NULL;
}

/* A gradient made of scatter_adds: one, or a sum of them (a table gathered in
 * several places). */
static bool is_rows_grad(const IrGraph *g, int id) {
    const IrNode *x = &g->nodes.items[id];
    if (x->op == IR_SCATTER_ADD) return true;
    return x->op == IR_ADD && is_rows_grad(g, x->in[0]) && is_rows_grad(g, x->in[1]);
}

/* Appends the rows of the scatters under node id, left to right. */
static void gather_rows(const IrGraph *g, int id, const InterpRun *r, int64_t B, int64_t width,
                        int32_t *ri, float *gf, int64_t *at) {
    const IrNode *x = &g->nodes.items[id];
    if (x->op == IR_ADD) {
        gather_rows(g, x->in[0], r, B, width, ri, gf, at);
        gather_rows(g, x->in[1], r, B, width, ri, gf, at);
        return;
    }
    int64_t n = ir_shape_numel(&g->nodes.items[x->in[0]].shape, B);
    const double *idx = r->v[x->in[0]], *rows = r->v[x->in[1]];
    for (int64_t i = 0; i < n; i++) ri[*at + i] = (int32_t)idx[i];
    for (int64_t i = 0; i < n * width; i++) gf[*at * width + i] = (float)rows[i];
    *at += n;
}

static int64_t count_rows(const IrGraph *g, int id, int64_t B) {
    const IrNode *x = &g->nodes.items[id];
    if (x->op == IR_ADD) return count_rows(g, x->in[0], B) + count_rows(g, x->in[1], B);
    return ir_shape_numel(&g->nodes.items[x->in[0]].shape, B);
}

/* An embedding gradient (scatter_adds, summed) is applied through the runtime's
 * row update, as the compiled step does: duplicate rows are summed there, and an
 * optimizer with state or decay updates the rows the batch did not read as with a
 * zero gradient (PyTorch's dense result). */
static bool apply_rows(const IrGraph *g, const IrNode *u, const InterpRun *r, rt_step_ctx *ctx) {
    const IrShape *ts = &g->nodes.items[u->in[1]].shape;
    int64_t V = ts->d[0].c, width = V ? ir_shape_numel(ts, ctx->B) / V : 0;
    int64_t n_rows = count_rows(g, u->in[1], ctx->B);
    int32_t *ri = malloc(sizeof(int32_t) * (size_t)(n_rows + 1));
    float *gf = malloc(sizeof(float) * (size_t)(n_rows * width + 1));
    bool ok = ri && gf;
    int64_t at = 0;
    if (ok) gather_rows(g, u->in[1], r, ctx->B, width, ri, gf, &at);
    const IrOptim *o = &g->optim;
    float *param = ctx->params[u->index];
    float *st = ctx->opt_state ? ctx->opt_state[u->index] : NULL;
    int64_t n = V * width;
    rt_row_grads part = {ri, gf, n_rows};
    if (ok && o->kind == OPT_SGD)
        ok = rt_update_sgd_rows(NULL, param, V, width, &part, 1, o->momentum != 0 ? st : NULL, ctx->lr,
                                (float)o->momentum, (float)o->weight_decay, NULL);
    else if (ok)
        ok = rt_update_adam_rows(NULL, param, V, width, &part, 1, st, st + n, ctx->lr,
                                 (float)o->beta1, (float)o->beta2, (float)o->eps,
                                 (float)o->weight_decay, o->kind == OPT_ADAMW, ctx->step, NULL);
    free(ri);
    free(gf);
    return ok;
}

/* This process's slice [*lo, *hi) of an update over n values: all of them
 * unless the step is sharded over processes that share the parameters
 * (docs/mpi.md, "Sliced updates"; the compiled step's slices). */
static void update_slice(const IrGraph *g, int64_t n, int64_t align, int64_t *lo, int64_t *hi) {
    *lo = g->procs > 1 ? rt_mpi_update_bound(n, align, 0) : 0;
    *hi = g->procs > 1 ? rt_mpi_update_bound(n, align, 1) : n;
}

/* Applies one IR_UPDATE with the runtime's optimizer, as the compiled step does;
 * the update of a state tensor assigns its new value. */
static bool apply_update(const IrGraph *g, const IrNode *u, const InterpRun *r, rt_step_ctx *ctx) {
    const IrParam *p = &g->params.items[u->index];
    int64_t n = ir_shape_numel(&p->shape, ctx->B), lo, hi;
    update_slice(g, n, 16, &lo, &hi);
    if (p->state) {
        for (int64_t i = lo; i < hi; i++) ctx->params[u->index][i] = (float)r->v[u->in[1]][i];
        return true;
    }
    if (is_rows_grad(g, u->in[1])) {
        int64_t first, end;
        update_slice(g, 1, 1, &first, &end);
        return first == end || apply_rows(g, u, r, ctx);
    }
    const double *grad = r->v[u->in[1]];
    float *gf = malloc(sizeof(float) * (size_t)(n + 1));
    if (!gf) return false;
    for (int64_t i = 0; i < n; i++) gf[i] = (float)grad[i];
    const IrOptim *o = &g->optim;
    float *param = ctx->params[u->index];
    float *st = ctx->opt_state ? ctx->opt_state[u->index] : NULL;
    if (o->kind == OPT_SGD)
        rt_update_sgd(param + lo, gf + lo, o->momentum != 0 ? st + lo : NULL, hi - lo, ctx->lr, (float)o->momentum,
                      (float)o->weight_decay);
    else
        rt_update_adam(param + lo, gf + lo, st + lo, st + n + lo, hi - lo, ctx->lr, (float)o->beta1,
                       (float)o->beta2, (float)o->eps, (float)o->weight_decay, o->kind == OPT_ADAMW, ctx->step);
    free(gf);
    return true;
}

bool interp_step(const IrGraph *g, rt_step_ctx *ctx) {
    InterpRun r = {.g = g, .B = ctx->B, .seed = ctx->seed, .step = ctx->step, .f32 = true,
                   .params_f32 = ctx->params, .inputs = ctx->inputs};
    bool ok = interp_run(&r);
    if (ok) {
        if (g->loss >= 0 && ctx->loss) *ctx->loss = (float)r.v[g->loss][0];
        for (int i = 0; i < g->reports.len && ctx->reports; i++)
            ctx->reports[i] = (float)r.v[g->reports.items[i].node][0];
        /* Every gradient is computed before any param changes; processes that
         * share the parameters all are, and write every slice before the step ends. */
        if (g->procs > 1) rt_mpi_update_fence();
        for (int id = 0; id < g->nodes.len && ok; id++) {
            const IrNode *n = &g->nodes.items[id];
            if (n->op == IR_UPDATE) ok = apply_update(g, n, &r, ctx);
        }
        if (g->procs > 1) rt_mpi_update_fence();
    }
    interp_run_free(&r);
    return ok;
}

int interp_first_nonfinite(const IrGraph *g, const rt_step_ctx *ctx) {
    InterpRun r = {.g = g, .B = ctx->B, .seed = ctx->seed, .step = ctx->step, .f32 = true,
                   .stop_at_nonfinite = true, .params_f32 = ctx->params, .inputs = ctx->inputs};
    int bad = interp_run(&r) ? r.first_nonfinite : -1;
    interp_run_free(&r);
    return bad;
}

double interp_loss_grad(const IrGraph *g, int64_t B, double *const *params, void *const *inputs,
                        uint64_t seed, int64_t step, double *const *grads) {
    InterpRun r = {.g = g, .B = B, .seed = seed, .step = step, .params_f64 = params,
                   .inputs = inputs};
    double loss = NAN;
    if (interp_run(&r)) {
        loss = g->loss >= 0 ? r.v[g->loss][0] : NAN;
        for (int i = 0; i < g->params.len; i++) {
            if (!grads || !grads[i]) continue;
            const IrParam *p = &g->params.items[i];
            int64_t n = ir_shape_numel(&p->shape, B);
            for (int64_t k = 0; k < n; k++) grads[i][k] = p->grad >= 0 ? r.v[p->grad][k] : 0.0;
        }
    }
    interp_run_free(&r);
    return loss;
}
