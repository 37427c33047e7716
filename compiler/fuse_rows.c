/* fuse_rows.c — row groups: runs of consecutive kernels executed row by row.
 *
 * A row softmax is four kernels (max, exp, sum, divide) and a softmax cross-entropy
 * over a vocabulary six; each reads what the one before stored. Run one after the
 * other, each streams the whole tensor through memory: on the GPT step's [B, T, vocab]
 * logits (35 MB at B = 32) that is a pass from DRAM per kernel. A row group runs such
 * a chain one outer index (one row of axis 0) at a time: every member over row o,
 * then every member over row o + 1, so what a member stores is still in cache when
 * the next one reads it, and the pool is woken once for the whole chain instead of
 * once per kernel.
 *
 * The members are the same kernels with the same code, each over the same elements
 * in the same order, so the results are bit for bit those of running them one after
 * the other (and stay independent of the thread count: a thread takes whole rows).
 * That holds when every member reads what an earlier member stored only at the row
 * it is computing, which is what this file checks, edge by edge through the member's
 * inlined nodes. To make chains contiguous, kernels between members are moved: one
 * that reads nothing of the group runs before it (the gradient seed of a loss, which
 * is a constant), one that needs a member's whole output after it (the loss's sum over
 * every row); their data dependences are kept, so the step computes the same values. plan_buffers keeps every buffer a member reads, and every member's
 * output, alive until the group's last member (a slot freed inside the group could be
 * taken by a later member while rows of the old value are still to be read).
 */
#include "kernel.h"

static const IrNode *nd(const IrGraph *g, int n) { return &g->nodes.items[n]; }

static bool dim_eq(IrDim a, IrDim b) { return a.b == b.b && a.c == b.c; }

/* The shape a kernel's outer loop runs over: a reduction's input, else its root. */
static const IrShape *iteration_shape(const IrGraph *g, const Kernel *k) {
    const IrNode *r = nd(g, k->root);
    return k->kind == K_REDUCE ? &nd(g, r->in[0])->shape : &r->shape;
}

/* A kernel that can run one row at a time: its outer loop is axis 0 of its
 * iteration shape (or, flat, a linear index whose rows are the same) and may be split.
 * A split reduction over axis 0 (kept-major, fuse.c) loops over a kept axis outside
 * and sums every row into each output: not row-local. */
static bool row_kernel(const IrGraph *g, const Kernel *k) {
    if (k->kind == K_REDUCE && (nd(g, k->root)->axes & 1u)) return false;
    return (k->kind == K_LOOP || k->kind == K_REDUCE) && k->parallel && iteration_shape(g, k)->rank >= 1;
}

/* Whether x, evaluated at an index whose axis 0 is the row, evaluates its input
 * `pos` at the same axis-0 index. */
static bool keeps_row(const IrGraph *g, const IrNode *x, int pos) {
    const IrNode *in = nd(g, x->in[pos]);
    if (x->shape.rank < 1 || in->shape.rank < 1) return false;
    switch (ir_op_info[x->op].cls) {
    case IRC_UNARY:
    case IRC_BINARY:
    case IRC_TERNARY: return true; /* operands have the node's shape */
    case IRC_REDUCE: return !(x->axes & 1u);
    default: break;
    }
    switch (x->op) {
    case IR_BROADCAST:
        return in->shape.rank == x->shape.rank && dim_eq(in->shape.d[0], x->shape.d[0]);
    case IR_TRANSPOSE: return x->perm[0] == 0;
    case IR_SLICE:
    case IR_PAD:
    case IR_CONCAT: return x->axis != 0;
    case IR_ONE_HOT: return true;
    case IR_GATHER: return pos == 1; /* the ids, not the table */
    default: return false;
    }
}

/* Whether kernel k, computing row o, reads every node stored by a member of the
 * group (made[n]) at row o only. `row` is scratch of one flag per node. */
static bool reads_own_rows(const IrGraph *g, const Kernel *k, IrDim rows, const bool *made, bool *row) {
    for (int i = 0; i < k->nodes.len; i++) row[k->nodes.items[i]] = true;
    for (int i = 0; i < k->reads.len; i++) row[k->reads.items[i]] = true;
    for (int i = k->nodes.len - 1; i >= 0; i--) {
        const IrNode *x = nd(g, k->nodes.items[i]);
        for (int j = 0; j < x->nin; j++)
            if (!row[k->nodes.items[i]] || !keeps_row(g, x, j)) row[x->in[j]] = false;
    }
    bool ok = true;
    for (int i = 0; i < k->reads.len && ok; i++) {
        int n = k->reads.items[i];
        bool view_keeps_rows = true;
        int base = n;
        for (;;) {
            const IrShape *s = &nd(g, base)->shape;
            view_keeps_rows = view_keeps_rows && s->rank >= 1 && dim_eq(s->d[0], rows);
            if (nd(g, base)->op != IR_RESHAPE) break;
            base = nd(g, base)->in[0];
        }
        if (made[base]) ok = row[n] && view_keeps_rows;
    }
    for (int i = 0; i < k->nodes.len; i++) row[k->nodes.items[i]] = false;
    for (int i = 0; i < k->reads.len; i++) row[k->reads.items[i]] = false;
    return ok;
}

/* Whether k reads a node stored by a kernel marked in `by` (through reshape views). */
static bool reads_from(const IrGraph *g, const Kernel *k, const bool *by) {
    for (int i = 0; i < k->reads.len; i++) {
        int n = k->reads.items[i];
        while (nd(g, n)->op == IR_RESHAPE) n = nd(g, n)->in[0];
        if (by[n]) return true;
    }
    return false;
}

/* How many kernels a group may leave behind it (those that need a member's whole
 * output, like the loss's sum over every row) while it looks for more members. */
enum { MAX_DEFERRED = 8 };

void fuse_row_groups(KernelPlan *p) {
    const IrGraph *g = p->g;
    int N = g->nodes.len, n = p->kernels.len;
    bool *made = arena_alloc(p->arena, (size_t)N + 1);     /* stored by a member */
    bool *waits = arena_alloc(p->arena, (size_t)N + 1);    /* stored by a deferred kernel */
    bool *row = arena_alloc(p->arena, (size_t)N + 1);
    int *order = arena_alloc(p->arena, sizeof(int) * (size_t)(n + 1));   /* placed kernels */
    int *rest = arena_alloc(p->arena, sizeof(int) * (size_t)(n + 1));    /* still to place */
    int *next = arena_alloc(p->arena, sizeof(int) * (size_t)(n + 1));
    int *before = arena_alloc(p->arena, sizeof(int) * (size_t)(n + 1));
    int *members = arena_alloc(p->arena, sizeof(int) * (size_t)(n + 1));
    int *after = arena_alloc(p->arena, sizeof(int) * (size_t)(n + 1));
    int placed = 0, nrest = n;
    for (int i = 0; i < n; i++) rest[i] = i;
    while (nrest > 0) {
        const Kernel *k = &p->kernels.items[rest[0]];
        IrDim rows = row_kernel(g, k) ? iteration_shape(g, k)->d[0] : (IrDim){0, 1};
        int nb = 0, nm = 0, na = 0, j = 1;
        if (!(rows.b == 0 && rows.c <= 1)) { /* a row kernel over more than one row */
            /* Kernels after the first member join the group when they read its stores
             * row by row; one that reads nothing of the group (nor of what waits) runs
             * before it; one that needs what a member stored in other rows waits after it. */
            members[nm++] = rest[0];
            made[k->root] = true;
            for (; j < nrest; j++) {
                const Kernel *c = &p->kernels.items[rest[j]];
                if (c->kind == K_UPDATE || c->kind == K_SPARSE_UPDATE) break;
                bool waiting = reads_from(g, c, waits);
                if (!waiting && row_kernel(g, c) && dim_eq(iteration_shape(g, c)->d[0], rows) &&
                    reads_own_rows(g, c, rows, made, row)) {
                    members[nm++] = rest[j];
                    made[c->root] = true;
                } else if (!waiting && !reads_from(g, c, made)) {
                    before[nb++] = rest[j];
                } else if (na < MAX_DEFERRED) {
                    after[na++] = rest[j];
                    waits[c->root] = true;
                } else {
                    break;
                }
            }
            for (int m = 0; m < j; m++) made[p->kernels.items[rest[m]].root] = waits[p->kernels.items[rest[m]].root] = false;
        }
        int nn = 0;
        if (nm < 2) { /* no group: the first kernel is placed, the rest keep their order */
            order[placed++] = rest[0];
            for (int m = 1; m < nrest; m++) next[nn++] = rest[m];
        } else {
            /* what ran before the group and the group are placed; the kernels that
             * waited are looked at again, as the start of another group perhaps */
            for (int m = 0; m < nb; m++) order[placed++] = before[m];
            vec_push(p->arena, &p->row_groups, ((KRowGroup){placed, nm}));
            for (int m = 0; m < nm; m++) order[placed++] = members[m];
            for (int m = 0; m < na; m++) next[nn++] = after[m];
            for (int m = j; m < nrest; m++) next[nn++] = rest[m];
        }
        int *t = rest;
        rest = next;
        next = t;
        nrest = nn;
    }
    Kernel *was = arena_alloc(p->arena, sizeof(Kernel) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) was[i] = p->kernels.items[i];
    for (int i = 0; i < n; i++) p->kernels.items[i] = was[order[i]];
}
