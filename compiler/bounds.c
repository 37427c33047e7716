/* bounds.c — the index bounds of a stage's i32 inputs (bounds.h): a walk from
 * each input node along its users, through value-preserving ops, to the ops
 * that index with the values. */
#include "bounds.h"

#include <string.h>

/* Users of every node, as one CSR table: the users of node i are
 * user[first[i] .. first[i + 1]). */
typedef struct Users {
    int *first, *user;
} Users;

static Users users_of(Arena *a, const IrGraph *g) {
    int n = g->nodes.len;
    Users u = {arena_alloc(a, sizeof *u.first * (size_t)(n + 1)), NULL};
    int edges = 0;
    for (int i = 0; i < n; i++) edges += g->nodes.items[i].nin;
    u.user = arena_alloc(a, sizeof *u.user * (size_t)(edges + 1));
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes.items[i].nin; k++) u.first[g->nodes.items[i].in[k] + 1]++;
    for (int i = 0; i < n; i++) u.first[i + 1] += u.first[i];
    int *fill = arena_alloc(a, sizeof *fill * (size_t)(n + 1));
    memcpy(fill, u.first, sizeof *fill * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes.items[i].nin; k++) u.user[fill[g->nodes.items[i].in[k]]++] = i;
    return u;
}

/* Whether node n passes the values of its input `from` on unchanged (some of
 * them, moved, copied, or next to zeros). */
static bool passes_values(const IrNode *n, int from) {
    switch (n->op) {
    case IR_RESHAPE: case IR_TRANSPOSE: case IR_SLICE: case IR_PAD: case IR_CONCAT:
    case IR_BROADCAST: case IR_STOP_GRAD:
        return true;
    case IR_WHERE: return n->in[1] == from || n->in[2] == from;   /* not the condition */
    default: return false;
    }
}

/* " at FILE:LINE:COL", or nothing for a node made without a location. */
static const char *where(Arena *a, Span s) {
    return s.file ? arena_printf(a, " at %s:%d:%d", s.file->path, s.line, s.col) : "";
}

/* The bound node n puts on values arriving from node `from`, and its use; 0 when
 * n does not index with them. The table's rows or the classes must be a
 * constant count (not the batch size). */
static int64_t bound_at(Arena *a, const IrGraph *g, const IrNode *n, int from, const char **use) {
    IrDim rows = {0, 0};
    int table = -1;
    if (n->op == IR_GATHER && n->in[1] == from) {
        table = n->in[0];
        rows = g->nodes.items[table].shape.d[0];
    } else if (n->op == IR_SCATTER_ADD && n->in[0] == from) {
        rows = n->shape.d[0];
    } else if (n->op == IR_ONE_HOT && n->in[0] == from) {
        if (n->dim.b != 0 || n->dim.c <= 0) return 0;
        *use = arena_printf(a, "a class of one_hot (%lld classes)%s", (long long)n->dim.c,
                            where(a, n->span));
        return n->dim.c;
    } else {
        return 0;
    }
    if (rows.b != 0 || rows.c <= 0) return 0;
    const IrNode *t = table >= 0 ? &g->nodes.items[table] : NULL;
    if (t && t->op == IR_PARAM)
        *use = arena_printf(a, "a row of %s (%lld rows)%s", g->params.items[t->index].name,
                            (long long)rows.c, where(a, n->span));
    else
        *use = arena_printf(a, "a row index into a table of %lld rows%s", (long long)rows.c,
                            where(a, n->span));
    return rows.c;
}

rt_index_limit *bounds_inputs(Arena *a, const IrGraph *g) {
    int n = g->nodes.len;
    rt_index_limit *out = arena_alloc(a, sizeof *out * (size_t)(g->inputs.len + 1));
    Users u = users_of(a, g);
    char *seen = arena_alloc(a, (size_t)n + 1);
    int *stack = arena_alloc(a, sizeof *stack * (size_t)(n + 1));
    for (int k = 0; k < g->inputs.len; k++) {
        const IrInput *in = &g->inputs.items[k];
        if (in->dtype != IR_I32 || in->node < 0) continue;
        memset(seen, 0, (size_t)n);
        int top = 0;
        stack[top++] = in->node;
        seen[in->node] = 1;
        while (top > 0) {
            int v = stack[--top];
            for (int e = u.first[v]; e < u.first[v + 1]; e++) {
                int w = u.user[e];
                const IrNode *user = &g->nodes.items[w];
                const char *use = NULL;
                int64_t limit = bound_at(a, g, user, v, &use);
                if (limit > 0 && (out[k].limit == 0 || limit < out[k].limit)) {
                    out[k].limit = limit;
                    out[k].use = use;
                }
                if (!seen[w] && passes_values(user, v)) {
                    seen[w] = 1;
                    stack[top++] = w;
                }
            }
        }
    }
    return out;
}
