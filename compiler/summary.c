/* summary.c — `rlc summary FILE`: what each stage trains and what a step costs,
 * read off the compiled graphs (the simplified graph that runs).
 *
 * FLOPs of one step at the stage's batch size:
 *   matmul           2*M*N*K (times G for a batched [G, M, K] product)
 *   elementwise      1 per output element (unary, binary, where, random draws)
 *   reductions       1 per input element
 *   scatter_add      1 per added element
 *   movement, leaves 0 (reshape, broadcast, slice, gather, ... only move data)
 *   updates          per trained element: sgd 2 (+2 momentum, +2 weight decay), adam 12
 * Memory of one step: parameters, their gradients (trained ones), optimizer state
 * (momentum: 1x, adam: 2x the trained parameters), and activations: every node's
 * output, inputs included, as if no buffer were reused — an upper bound.
 */
#include "lower.h"

#include <string.h>

static double numel(const IrShape *s, int64_t B) { return (double)ir_shape_numel(s, B); }

static double matmul_flops(const IrGraph *g, const IrNode *n, int64_t B) {
    const IrShape *x = &g->nodes.items[n->in[0]].shape;
    const IrShape *y = &g->nodes.items[n->in[1]].shape;
    int r = x->rank;
    if (r < 2 || y->rank < 2) return 0;
    double groups = n->shape.rank == 3 ? (double)ir_dim_value(n->shape.d[0], B) : 1;
    double m = (double)ir_dim_value(x->d[n->trans_a ? r - 1 : r - 2], B);
    double k = (double)ir_dim_value(x->d[n->trans_a ? r - 2 : r - 1], B);
    double cols = (double)ir_dim_value(y->d[n->trans_b ? y->rank - 2 : y->rank - 1], B);
    return 2 * groups * m * cols * k;
}

static double update_flops_per_element(const IrOptim *o) {
    if (o->kind != OPT_SGD) return 12;
    return 2 + (o->momentum != 0 ? 2 : 0) + (o->weight_decay != 0 ? 2 : 0);
}

static double node_flops(const IrGraph *g, const IrNode *n, int64_t B) {
    switch (ir_op_info[n->op].cls) {
    case IRC_MATMUL: return matmul_flops(g, n, B);
    case IRC_UNARY:
    case IRC_BINARY:
    case IRC_TERNARY:
    case IRC_RANDOM: return numel(&n->shape, B);
    case IRC_REDUCE: return numel(&g->nodes.items[n->in[0]].shape, B);
    case IRC_WINDOW: return numel(&g->nodes.items[n->in[0]].shape, B);
    case IRC_GATHER:
        return n->op == IR_SCATTER_ADD ? numel(&g->nodes.items[n->in[1]].shape, B) : 0;
    case IRC_UPDATE:
        return numel(&n->shape, B) * update_flops_per_element(&g->optim);
    case IRC_LEAF:
    case IRC_MOVE:
    case IRC_COLLECTIVE: return 0;
    }
    return 0;
}

/* 1234567 -> "1.23 M" */
static void put_count(StrBuf *out, double x) {
    static const char *const units[] = {"", " k", " M", " G", " T", " P"};
    int u = 0;
    while (x >= 1000 && u < 5) x /= 1000, u++;
    if (u == 0) sb_printf(out, "%.0f", x);
    else sb_printf(out, "%.2f%s", x, units[u]);
}

static void put_bytes(StrBuf *out, double x) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (x >= 1024 && u < 4) x /= 1024, u++;
    if (u == 0) sb_printf(out, "%.0f B", x);
    else sb_printf(out, "%.2f %s", x, units[u]);
}

static void summarize_stage(const IrStage *s, StrBuf *out) {
    const IrGraph *g = s->graph;
    int64_t B = s->batch;
    sb_printf(out, "stage %s (%s, data %s, batch %lld)\n", s->name, s->is_train ? "train" : "eval",
              s->dataset, (long long)B);

    double total = 0, trained = 0, state = 0;
    int width = 9;
    for (int i = 0; i < g->params.len; i++) {
        int w = (int)strlen(g->params.items[i].name);
        if (w > width) width = w;
    }
    if (g->params.len) sb_printf(out, "  %-*s  %-16s %12s\n", width, "parameter", "shape", "count");
    for (int i = 0; i < g->params.len; i++) {
        const IrParam *p = &g->params.items[i];
        StrBuf shape = {0};
        ir_shape_print(&p->shape, &shape);
        double n = numel(&p->shape, B);
        total += n;
        if (p->trained) trained += n;
        if (p->state) state += n;
        sb_printf(out, "  %-*s  %-16s %12.0f  %s\n", width, p->name, shape.data ? shape.data : "[]", n,
                  p->state ? "state" : p->trained ? "trained" : "frozen");
        sb_free(&shape);
    }
    sb_printf(out, "  parameters: %d tensors, %.0f numbers (%.0f trained, %.0f frozen", g->params.len,
              total, trained, total - trained - state);
    if (state) sb_printf(out, ", %.0f state: running statistics", state);
    sb_puts(out, ")\n");

    double fwd = 0, bwd = 0, upd = 0, act = 0;
    for (int id = 0; id < g->nodes.len; id++) {
        const IrNode *n = &g->nodes.items[id];
        double f = node_flops(g, n, B);
        if (n->op == IR_UPDATE) upd += f;
        else if (n->backward || id >= g->n_forward) bwd += f;
        else fwd += f;
        if (n->op != IR_PARAM && n->op != IR_UPDATE && n->op != IR_CONST) act += 4 * numel(&n->shape, B);
    }
    sb_puts(out, "  FLOPs per step: forward ");
    put_count(out, fwd);
    if (s->is_train) {
        sb_puts(out, ", backward ");
        put_count(out, bwd);
        sb_puts(out, ", update ");
        put_count(out, upd);
    }
    sb_puts(out, "\n");

    double states = 0;
    if (s->is_train) states = g->optim.kind == OPT_SGD ? (g->optim.momentum != 0 ? 1 : 0) : 2;
    double params = 4 * total, grads = s->is_train ? 4 * trained : 0, opt = states * 4 * trained;
    sb_puts(out, "  memory per step: params ");
    put_bytes(out, params);
    if (s->is_train) {
        sb_puts(out, ", grads ");
        put_bytes(out, grads);
        sb_puts(out, ", optimizer ");
        put_bytes(out, opt);
    }
    sb_puts(out, ", activations ");
    put_bytes(out, act);
    sb_puts(out, ", total ");
    put_bytes(out, params + grads + opt + act);
    sb_puts(out, "\n");
}

void summary_print(const IrProgram *ir, StrBuf *out) {
    for (int i = 0; i < ir->stages.len; i++) {
        if (i) sb_puts(out, "\n");
        summarize_stage(&ir->stages.items[i], out);
    }
}
