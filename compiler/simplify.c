/* simplify.c — rewrites that keep a graph's meaning exactly: constant folding
 * of splat constants, exact identities, common-subexpression elimination and
 * dead-node elimination. Nothing here changes a result beyond float rounding
 * (x*0 -> 0, for one, is not done: it is wrong for x = inf or nan).
 *
 * One forward walk builds the new graph: each node, its inputs already
 * remapped, is first rewritten (to one of its inputs, a folded constant, or a
 * simpler node of the same op), then looked up in a hash of the nodes built so
 * far. A second walk keeps only what the loss, the reports and the updates
 * reach (and every param and input node, whose tables index them).
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool is_const(const IrGraph *g, int id, double v) {
    const IrNode *n = &g->nodes.items[id];
    return n->op == IR_CONST && n->a == v;
}

/* Turns n into a splat constant of its own shape and dtype. */
static void make_const(IrNode *n, double v) {
    if (n->dtype == IR_I32) v = (double)(int32_t)(uint32_t)(int64_t)v;
    IrNode c = {0};
    c.op = IR_CONST;
    c.dtype = n->dtype;
    c.shape = n->shape;
    c.span = n->span;
    c.backward = n->backward;
    c.a = v;
    *n = c;
}

/* Rewrites n (inputs already in the new graph ng). Returns the id of an
 * existing node that equals n, or -1 after changing n in place (or not). */
static int rewrite(const IrGraph *ng, IrNode *n) {
    const IrNode *in0 = n->nin > 0 ? &ng->nodes.items[n->in[0]] : NULL;
    const IrNode *in1 = n->nin > 1 ? &ng->nodes.items[n->in[1]] : NULL;
    bool all_const = n->nin > 0;
    for (int k = 0; k < n->nin; k++) all_const &= ng->nodes.items[n->in[k]].op == IR_CONST;
    IrClass cls = ir_op_info[n->op].cls;

    /* constant folding of splats */
    if (all_const) {
        switch (cls) {
        case IRC_UNARY: make_const(n, ir_eval_unary(n->op, in0->a)); return -1;
        case IRC_BINARY: make_const(n, ir_eval_binary(n->op, in0->a, in1->a)); return -1;
        case IRC_TERNARY: make_const(n, in0->a != 0 ? in1->a : ng->nodes.items[n->in[2]].a); return -1;
        case IRC_MOVE:
            if (n->op == IR_PAD || n->op == IR_ONE_HOT || n->op == IR_CONCAT || n->op == IR_UNFOLD) break;
            make_const(n, in0->a);
            return -1;
        case IRC_REDUCE: {
            if (n->op == IR_ARGMAX) {
                make_const(n, 0);
                return -1;
            }
            if (n->op != IR_SUM) {
                make_const(n, in0->a);
                return -1;
            }
            int64_t count = 1;
            bool fixed = true;
            for (int i = 0; i < in0->shape.rank; i++)
                if (n->axes & (1u << i)) {
                    fixed &= in0->shape.d[i].b == 0;
                    count *= in0->shape.d[i].c;
                }
            if (fixed) {
                make_const(n, in0->a * (double)count);
                return -1;
            }
            break;
        }
        default: break;
        }
    }

    /* stop_gradient stays, also past autodiff: it costs nothing in a kernel, and
     * gradcheck holds its value fixed, which needs to find it */
    switch (n->op) {
    case IR_NEG:
        if (in0->op == IR_NEG) return in0->in[0];
        break;
    case IR_ADD:
        if (is_const(ng, n->in[1], 0)) return n->in[0];
        if (is_const(ng, n->in[0], 0)) return n->in[1];
        break;
    case IR_SUB:
        if (is_const(ng, n->in[1], 0)) return n->in[0];
        break;
    case IR_MUL:
        if (is_const(ng, n->in[1], 1)) return n->in[0];
        if (is_const(ng, n->in[0], 1)) return n->in[1];
        break;
    case IR_DIV:
        if (is_const(ng, n->in[1], 1)) return n->in[0];
        break;
    case IR_BROADCAST:
    case IR_RESHAPE:
        if (in0->op == n->op) {
            n->in[0] = in0->in[0];
            in0 = &ng->nodes.items[n->in[0]];
        }
        if (ir_shape_eq(&in0->shape, &n->shape)) return n->in[0];
        break;
    case IR_TRANSPOSE: {
        if (in0->op == IR_TRANSPOSE) {
            /* out axis i = mid axis perm[i] = inner axis inner_perm[perm[i]] */
            int p[IR_MAX_RANK] = {0};
            for (int i = 0; i < n->shape.rank; i++) p[i] = in0->perm[n->perm[i]];
            memcpy(n->perm, p, sizeof p);
            n->in[0] = in0->in[0];
        }
        bool ident = true;
        for (int i = 0; i < n->shape.rank; i++) ident &= n->perm[i] == i;
        if (ident) return n->in[0];
        break;
    }
    default: break;
    }
    return -1;
}

/* ------------------------------------------------------------------ CSE */

static bool same_node(const IrNode *x, const IrNode *y) {
    if (x->op != y->op || x->dtype != y->dtype || x->nin != y->nin ||
        !ir_shape_eq(&x->shape, &y->shape))
        return false;
    for (int k = 0; k < x->nin; k++)
        if (x->in[k] != y->in[k]) return false;
    return memcmp(&x->a, &y->a, sizeof x->a) == 0 && memcmp(&x->b, &y->b, sizeof x->b) == 0 &&
           x->index == y->index && x->axis == y->axis && x->start == y->start &&
           x->end == y->end && x->start_b == y->start_b && x->end_b == y->end_b &&
           x->axes == y->axes && memcmp(x->perm, y->perm, sizeof x->perm) == 0 &&
           x->trans_a == y->trans_a && x->trans_b == y->trans_b && ir_dim_eq(x->dim, y->dim) &&
           memcmp(&x->win, &y->win, sizeof x->win) == 0 && x->dropout_mask == y->dropout_mask;
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001B3ull; }

static uint64_t node_hash(const IrNode *n) {
    uint64_t h = 0xCBF29CE484222325ull;
    h = mix(h, (uint64_t)n->op);
    for (int k = 0; k < n->nin; k++) h = mix(h, (uint64_t)n->in[k]);
    uint64_t bits;
    memcpy(&bits, &n->a, sizeof bits);
    h = mix(h, bits);
    h = mix(h, (uint64_t)n->index);
    h = mix(h, (uint64_t)n->axes);
    h = mix(h, (uint64_t)n->start);
    for (int i = 0; i < n->shape.rank; i++) h = mix(h, (uint64_t)n->shape.d[i].c);
    return h;
}

typedef struct Cse {
    int *slot;     /* node id + 1, 0 = empty */
    size_t mask;
} Cse;

/* The id of an equal node already in ng, or -1 (then n's slot is reserved). */
static int cse_find(Cse *c, const IrGraph *ng, const IrNode *n, size_t *where) {
    size_t i = node_hash(n) & c->mask;
    while (c->slot[i]) {
        int id = c->slot[i] - 1;
        if (same_node(&ng->nodes.items[id], n)) return id;
        i = (i + 1) & c->mask;
    }
    *where = i;
    return -1;
}

/* ------------------------------------------------------------------ DCE */

static IrGraph *sweep(IrGraph *g, int old_forward_end) {
    int n = g->nodes.len;
    bool *live = calloc((size_t)n + 1, sizeof(bool));
    int *to = malloc(sizeof(int) * ((size_t)n + 1));
    if (!live || !to) {
        free(live);
        free(to);
        return g;
    }
    if (g->loss >= 0) live[g->loss] = true;
    if (g->output >= 0) live[g->output] = true;
    for (int i = 0; i < g->reports.len; i++) live[g->reports.items[i].node] = true;
    for (int i = 0; i < g->params.len; i++) live[g->params.items[i].node] = true;
    for (int i = 0; i < g->inputs.len; i++) live[g->inputs.items[i].node] = true;
    for (int id = n - 1; id >= 0; id--) {
        const IrNode *x = &g->nodes.items[id];
        if (x->op == IR_UPDATE) live[id] = true;
        if (live[id])
            for (int k = 0; k < x->nin; k++) live[x->in[k]] = true;
    }
    IrGraph *out = ir_graph_new(g->arena, g->name);
    out->optim = g->optim;
    out->procs = g->procs;
    out->params = g->params;
    out->inputs = g->inputs;
    out->reports = g->reports;
    for (int id = 0; id < n; id++) {
        to[id] = -1;
        if (!live[id]) continue;
        IrNode x = g->nodes.items[id];
        for (int k = 0; k < x.nin; k++) x.in[k] = to[x.in[k]];
        to[id] = ir_add_node(out, x);
        if (id < old_forward_end) out->n_forward = to[id] + 1;
    }
    for (int i = 0; i < out->params.len; i++) {
        IrParam *p = &out->params.items[i];
        p->node = to[p->node];
        if (p->grad >= 0) p->grad = to[p->grad];
    }
    for (int i = 0; i < out->inputs.len; i++) out->inputs.items[i].node = to[out->inputs.items[i].node];
    for (int i = 0; i < out->reports.len; i++)
        out->reports.items[i].node = to[out->reports.items[i].node];
    out->loss = g->loss >= 0 ? to[g->loss] : -1;
    out->output = g->output >= 0 ? to[g->output] : -1;
    free(live);
    free(to);
    return out;
}

static void copy_tables(IrGraph *to, const IrGraph *from) {
    to->optim = from->optim;
    to->procs = from->procs;
    for (int i = 0; i < from->params.len; i++) vec_push(to->arena, &to->params, from->params.items[i]);
    for (int i = 0; i < from->inputs.len; i++) vec_push(to->arena, &to->inputs, from->inputs.items[i]);
    for (int i = 0; i < from->reports.len; i++)
        vec_push(to->arena, &to->reports, from->reports.items[i]);
}

IrGraph *simplify_graph(const IrGraph *g) {
    int n = g->nodes.len;
    IrGraph *ng = ir_graph_new(g->arena, g->name);
    copy_tables(ng, g);
    int *to = malloc(sizeof(int) * ((size_t)n + 1));
    Cse cse = {0};
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap *= 2;
    cse.slot = calloc(cap, sizeof(int));
    cse.mask = cap - 1;
    if (!to || !cse.slot) {
        free(to);
        free(cse.slot);
        return (IrGraph *)g;
    }
    /* new nodes made while walking the forward part come first */
    int fwd_end = 0;
    for (int id = 0; id < n; id++) {
        IrNode x = g->nodes.items[id];
        for (int k = 0; k < x.nin; k++) x.in[k] = to[x.in[k]];
        /* pictures run the forward graph as lowered: a simplified graph never runs eval-like */
        x.eval_with = 0;
        int same = rewrite(ng, &x);
        size_t where = 0;
        if (same < 0 && x.op != IR_UPDATE) same = cse_find(&cse, ng, &x, &where);
        if (same < 0) {
            same = ir_add_node(ng, x);
            if (x.op != IR_UPDATE) cse.slot[where] = same + 1;
        }
        to[id] = same;
        if (id < g->n_forward) fwd_end = ng->nodes.len;
    }
    for (int i = 0; i < ng->params.len; i++) {
        IrParam *p = &ng->params.items[i];
        p->node = to[p->node];
        if (p->grad >= 0) p->grad = to[p->grad];
    }
    for (int i = 0; i < ng->inputs.len; i++) ng->inputs.items[i].node = to[ng->inputs.items[i].node];
    for (int i = 0; i < ng->reports.len; i++)
        ng->reports.items[i].node = to[ng->reports.items[i].node];
    ng->loss = g->loss >= 0 ? to[g->loss] : -1;
    ng->output = g->output >= 0 ? to[g->output] : -1;
    free(to);
    free(cse.slot);
    return sweep(ng, fwd_end);
}
