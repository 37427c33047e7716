/* shard.c — the batch axis split over the processes of a data-parallel run
 * (rl-language.md 8.4, docs/mpi.md).
 *
 * shard_graph rewrites a stage's forward graph for N processes, each holding
 * B of the N*B examples of the global batch. Every value is either *sharded*:
 * along one axis (its batch axis, dim b*B with this process's B rows per
 * block) it holds this process's rows, or *replicated*: every process holds
 * the whole value, and a dim b*B of it is written (N*b)*B, the global size,
 * since the symbol B is this process's share everywhere. Per-example work
 * stays sharded; where a node mixes examples across the batch axis a
 * collective gives it the global value:
 *   - a sum over the batch axis sums locally, then IR_ALLREDUCE;
 *   - a product whose rows are sharded and whose right side is not gathers that
 *     side (IR_ALLGATHER): nt_xent's z @ z.T gives this process's rows of the
 *     [2B, 2B] similarities; a product contracting the batch axis sums
 *     locally, then IR_ALLREDUCE;
 *   - anything else that mixes the batch (a max over it, a reshape that
 *     moves it) gathers its inputs and runs replicated: always the one-process
 *     answer, at the cost of the whole batch on every process;
 *   - a replicated value meeting a sharded one gives up the other processes'
 *     rows (IR_SHARD).
 * Random sources draw their global shape on every process (identical draws,
 * the one-process ones) and are sharded where they meet the data.
 *
 * Autodiff differentiates the sharded graph through the collectives' adjoint
 * rules (autodiff.c), so the gradient a process computes for a replicated value
 * is its part of the whole; ad_differentiate then sums each parameter's
 * gradient over the processes (IR_ALLREDUCE) before clipping and the optimizer.
 * Every process starts with the same parameters and applies the same update. */
#include "shard.h"

#include <string.h>

enum { REPLICATED = -1 };

typedef struct Sharder {
    const IrGraph *g;      /* the one-process forward graph */
    IrGraph *ng;           /* the sharded one being built */
    int64_t procs;
    int *to;               /* old node -> new node */
    int *layout;           /* old node -> REPLICATED or its sharded axis */
    int *gathered;         /* old node -> its replicated copy (a gather), or -1 */
} Sharder;

static const IrNode *old_node(const Sharder *s, int id) { return &s->g->nodes.items[id]; }
static const IrNode *new_node(const Sharder *s, int id) { return &s->ng->nodes.items[id]; }

/* The dims of a replicated value: every batch dim at its global size; keep (an
 * axis, or -1) stays this process's share. */
static IrShape widen(IrShape sh, int64_t procs, int keep) {
    for (int i = 0; i < sh.rank; i++)
        if (i != keep) sh.d[i].b *= (int32_t)procs;
    return sh;
}

/* Whether axis a of a (new) shape can hold shards: a batch dim b*B, b > 0. */
static bool batch_axis(const IrShape *sh, int a) {
    return a >= 0 && a < sh->rank && sh->d[a].b > 0 && sh->d[a].c == 0;
}

/* The new node of old node id as a replicated value. */
static int replicated(Sharder *s, int id) {
    if (s->layout[id] == REPLICATED) return s->to[id];
    if (s->gathered[id] < 0)
        s->gathered[id] = ir_collective(s->ng, IR_ALLGATHER, s->to[id], s->layout[id], s->procs,
                                        old_node(s, id)->span);
    return s->gathered[id];
}

/* The new node of old node id sharded along axis a, or -1 when its axis a is not
 * a batch axis. A splat constant is made again at this process's size. */
static int sharded(Sharder *s, int id, int a) {
    if (s->layout[id] == a) return s->to[id];
    int r = replicated(s, id);
    const IrNode *x = new_node(s, r);
    if (!batch_axis(&x->shape, a) || x->shape.d[a].b % s->procs != 0) return -1;
    if (x->op == IR_CONST) {
        IrShape sh = x->shape;
        sh.d[a].b /= (int32_t)s->procs;
        return ir_const(s->ng, x->a, sh, x->dtype, x->span);
    }
    return ir_collective(s->ng, IR_SHARD, r, a, s->procs, old_node(s, id)->span);
}

/* Adds n (inputs already new ids) with its shape by the op's rule. */
static int emit(Sharder *s, IrNode n) { return ir_add_inferred(s->ng, n); }

/* The node run on replicated inputs: the one-process computation at global size. */
static int run_replicated(Sharder *s, int id, IrNode n) {
    const IrNode *o = old_node(s, id);
    for (int k = 0; k < n.nin; k++) n.in[k] = replicated(s, o->in[k]);
    n.shape = widen(o->shape, s->procs, -1);
    n.start_b = o->start_b * (int32_t)s->procs;
    n.end_b = o->end_b * (int32_t)s->procs;
    if (n.op == IR_DIMVAL || n.op == IR_ONE_HOT) n.dim.b = o->dim.b * (int32_t)s->procs;
    s->layout[id] = REPLICATED;
    return emit(s, n);
}

/* The node run on inputs sharded along axes in_axes[k] (-1: replicated as it
 * is), its result sharded along out_axis; shape attributes widened except there.
 * Falls back to run_replicated when an input cannot be sharded so. */
static int run_sharded(Sharder *s, int id, IrNode n, const int *in_axes, int out_axis) {
    const IrNode *o = old_node(s, id);
    for (int k = 0; k < n.nin; k++) {
        n.in[k] = in_axes[k] < 0 ? replicated(s, o->in[k]) : sharded(s, o->in[k], in_axes[k]);
        if (n.in[k] < 0) return run_replicated(s, id, *o);
    }
    n.shape = widen(o->shape, s->procs, out_axis);
    bool along = (n.op == IR_SLICE || n.op == IR_PAD) && n.axis == out_axis;
    n.start_b = along ? o->start_b : o->start_b * (int32_t)s->procs;
    n.end_b = along ? o->end_b : o->end_b * (int32_t)s->procs;
    if (n.op == IR_ONE_HOT) n.dim.b = o->dim.b * (int32_t)s->procs;   /* a new last axis: global */
    s->layout[id] = out_axis;
    return emit(s, n);
}

/* The sharded axis of id, or REPLICATED. */
static int axis_of(const Sharder *s, int id) { return s->layout[id]; }

static int elementwise(Sharder *s, int id, IrNode n) {
    int a = REPLICATED;
    for (int k = 0; k < n.nin; k++)
        if (axis_of(s, n.in[k]) != REPLICATED) {
            if (a != REPLICATED && axis_of(s, n.in[k]) != a) return run_replicated(s, id, n);
            a = axis_of(s, n.in[k]);
        }
    if (a == REPLICATED) return run_replicated(s, id, n);
    int axes[3] = {a, a, a};
    return run_sharded(s, id, n, axes, a);
}

static int broadcast(Sharder *s, int id, IrNode n) {
    const IrNode *x = old_node(s, n.in[0]);
    int a = axis_of(s, n.in[0]), lead = n.shape.rank - x->shape.rank;
    if (a != REPLICATED) return run_sharded(s, id, n, &a, a + lead);
    /* rows that are all alike: a value without the batch broadcast to one batch axis */
    int only = -1, count = 0;
    for (int i = 0; i < n.shape.rank; i++)
        if (n.shape.d[i].b != 0) {
            only = i;
            count++;
        }
    bool batchless = true;
    for (int i = 0; i < x->shape.rank; i++) batchless &= x->shape.d[i].b == 0;
    if (batchless && count == 1 && batch_axis(&n.shape, only)) {
        int none = -1;
        return run_sharded(s, id, n, &none, only);
    }
    return run_replicated(s, id, n);
}

static int reduce(Sharder *s, int id, IrNode n) {
    int a = axis_of(s, n.in[0]);
    if (a == REPLICATED) return run_replicated(s, id, n);
    if (!(n.axes & (1u << a))) return run_sharded(s, id, n, &a, a);
    if (n.op != IR_SUM) return run_replicated(s, id, n);
    /* partial sums of this process's rows, summed over the processes */
    IrNode part = n;
    part.in[0] = s->to[n.in[0]];
    part.shape = widen(old_node(s, id)->shape, s->procs, -1);
    int local = emit(s, part);
    s->layout[id] = REPLICATED;
    return ir_collective(s->ng, IR_ALLREDUCE, local, 0, s->procs, n.span);
}

/* Where the batch axis a of x lands in a reshape to n: the axis with the same
 * dim and the same constant number of elements before it, or -1. */
static int reshaped_axis(const IrShape *x, int a, const IrShape *to) {
    int64_t before = 1;
    for (int i = 0; i < a; i++) {
        if (x->d[i].b != 0) return -1;
        before *= x->d[i].c;
    }
    int64_t at = 1;
    for (int i = 0; i < to->rank; i++) {
        if (at == before && ir_dim_eq(to->d[i], x->d[a])) return i;
        if (to->d[i].b != 0) return -1;
        at *= to->d[i].c;
    }
    return -1;
}

static int move(Sharder *s, int id, IrNode n) {
    int a = axis_of(s, n.in[0]);
    const IrNode *x = old_node(s, n.in[0]);
    switch (n.op) {
    case IR_RESHAPE: {
        int b = a == REPLICATED ? -1 : reshaped_axis(&x->shape, a, &n.shape);
        return b < 0 ? run_replicated(s, id, n) : run_sharded(s, id, n, &a, b);
    }
    case IR_TRANSPOSE:
        for (int i = 0; a != REPLICATED && i < n.shape.rank; i++)
            if (n.perm[i] == a) return run_sharded(s, id, n, &a, i);
        return run_replicated(s, id, n);
    case IR_SLICE:
    case IR_PAD:
        /* along the batch axis only at whole blocks */
        if (a == REPLICATED || (n.axis == a && (n.start != 0 || n.end != 0)))
            return run_replicated(s, id, n);
        return run_sharded(s, id, n, &a, a);
    case IR_CONCAT: {
        int c = a != REPLICATED ? a : axis_of(s, n.in[1]);
        if (c == REPLICATED) return run_replicated(s, id, n);
        int axes[2] = {c, c};
        return run_sharded(s, id, n, axes, c);
    }
    case IR_ONE_HOT: return a == REPLICATED ? run_replicated(s, id, n) : run_sharded(s, id, n, &a, a);
    case IR_UNFOLD: return a == 0 ? run_sharded(s, id, n, &a, 3) : run_replicated(s, id, n);
    case IR_FOLD: return a == 3 ? run_sharded(s, id, n, &a, 0) : run_replicated(s, id, n);
    default: return run_replicated(s, id, n);
    }
}

/* The axes of a matmul operand: its rows-of-the-result (M or N), its contracted
 * (K) axis, after its transpose flag. */
static void operand_axes(const IrShape *sh, bool trans, bool right, int *outer, int *inner) {
    int r = sh->rank - 2, c = sh->rank - 1;
    bool rows_outer = right ? trans : !trans;   /* left: M is the rows; right: N the cols */
    *outer = rows_outer ? r : c;
    *inner = rows_outer ? c : r;
}

static int matmul(Sharder *s, int id, IrNode n) {
    int ax = axis_of(s, n.in[0]), ay = axis_of(s, n.in[1]);
    if (ax == REPLICATED && ay == REPLICATED) return run_replicated(s, id, n);
    const IrShape *xs = &old_node(s, n.in[0])->shape, *ys = &old_node(s, n.in[1])->shape;
    int xo, xk, yo, yk, rank = n.shape.rank;
    operand_axes(xs, n.trans_a, false, &xo, &xk);
    operand_axes(ys, n.trans_b, true, &yo, &yk);
    if (rank == 3 && (ax == 0 || ay == 0)) {
        int axes[2] = {0, 0};
        return run_sharded(s, id, n, axes, 0);
    }
    if (ax == xo) {                         /* this process's rows of the result */
        int axes[2] = {xo, -1};
        return run_sharded(s, id, n, axes, rank - 2);
    }
    if (ay == yo && ax == REPLICATED) {     /* this process's columns */
        int axes[2] = {-1, yo};
        return run_sharded(s, id, n, axes, rank - 1);
    }
    if (ax == xk || ay == yk) {             /* contracting the batch: partial products summed */
        IrNode part = n;
        part.in[0] = sharded(s, n.in[0], xk);
        part.in[1] = sharded(s, n.in[1], yk);
        if (part.in[0] >= 0 && part.in[1] >= 0) {
            int local = emit(s, part);
            s->layout[id] = REPLICATED;
            return ir_collective(s->ng, IR_ALLREDUCE, local, 0, s->procs, n.span);
        }
    }
    return run_replicated(s, id, n);
}

static int gather(Sharder *s, int id, IrNode n) {
    int at = axis_of(s, n.in[1]);
    if (n.op != IR_GATHER || axis_of(s, n.in[0]) != REPLICATED || at == REPLICATED)
        return run_replicated(s, id, n);
    int axes[2] = {-1, at};
    return run_sharded(s, id, n, axes, at);
}

static int shard_node(Sharder *s, int id) {
    IrNode n = *old_node(s, id);
    n.eval_with = 0;
    switch (ir_op_info[n.op].cls) {
    case IRC_LEAF:
        if (n.op == IR_INPUT) {
            s->layout[id] = 0;
            return ir_add_node(s->ng, n);
        }
        return run_replicated(s, id, n);
    case IRC_RANDOM:
    case IRC_WINDOW:
        if (n.op == IR_FOLD) return move(s, id, n);
        return run_replicated(s, id, n);
    case IRC_UNARY:
    case IRC_BINARY:
    case IRC_TERNARY: return elementwise(s, id, n);
    case IRC_REDUCE: return reduce(s, id, n);
    case IRC_MOVE: return n.op == IR_BROADCAST ? broadcast(s, id, n) : move(s, id, n);
    case IRC_MATMUL: return matmul(s, id, n);
    case IRC_GATHER: return gather(s, id, n);
    case IRC_UPDATE:
    case IRC_COLLECTIVE: break;
    }
    return run_replicated(s, id, n);
}

IrGraph *shard_graph(const IrGraph *g, int64_t procs) {
    IrGraph *ng = ir_graph_new(g->arena, g->name);
    ng->optim = g->optim;
    ng->procs = procs;
    int n = g->nodes.len;
    Sharder s = {.g = g, .ng = ng, .procs = procs};
    s.to = arena_alloc(g->arena, sizeof(int) * (size_t)(n + 1));
    s.layout = arena_alloc(g->arena, sizeof(int) * (size_t)(n + 1));
    s.gathered = arena_alloc(g->arena, sizeof(int) * (size_t)(n + 1));
    for (int i = 0; i < g->params.len; i++) vec_push(g->arena, &ng->params, g->params.items[i]);
    for (int i = 0; i < g->inputs.len; i++) vec_push(g->arena, &ng->inputs, g->inputs.items[i]);
    for (int i = 0; i < g->reports.len; i++) vec_push(g->arena, &ng->reports, g->reports.items[i]);
    for (int id = 0; id < n; id++) {
        s.gathered[id] = -1;
        s.layout[id] = REPLICATED;
        if (old_node(&s, id)->op == IR_UPDATE) {
            /* a state tensor's new value (batch_norm's running statistics): replicated */
            IrNode u = *old_node(&s, id);
            u.in[0] = s.to[u.in[0]];
            u.in[1] = replicated(&s, old_node(&s, id)->in[1]);
            s.to[id] = ir_add_node(ng, u);
            continue;
        }
        s.to[id] = shard_node(&s, id);
        /* pictures take a batch statistic's running value instead: same layout, same node */
        int ew = old_node(&s, id)->eval_with;
        IrNode *made = &ng->nodes.items[s.to[id]];
        made->eval_with = ew > 0 && s.layout[ew - 1] == s.layout[id] &&
                          ir_shape_eq(&new_node(&s, s.to[ew - 1])->shape, &made->shape) ? s.to[ew - 1] + 1 : 0;
    }
    for (int i = 0; i < ng->params.len; i++) ng->params.items[i].node = s.to[ng->params.items[i].node];
    for (int i = 0; i < ng->inputs.len; i++) ng->inputs.items[i].node = s.to[ng->inputs.items[i].node];
    for (int i = 0; i < ng->reports.len; i++)
        ng->reports.items[i].node = replicated(&s, g->reports.items[i].node);
    ng->loss = g->loss >= 0 ? replicated(&s, g->loss) : -1;
    ng->n_forward = ng->nodes.len;
    return ng;
}
