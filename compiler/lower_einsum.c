/* lower_einsum.c — einsum("bhtd,bhsd->bhts", a, b) (rl-language.md §8.1) in the
 * IR's existing ops, so its gradient, the interpreter and the JIT come for free
 * (docs/ir.md, einsum). Letters fall into groups:
 *   batch       in both operands and the result            -> G (their sizes' product)
 *   free of a   in a and the result only                   -> M
 *   contracted  in both operands, not the result           -> K
 *   free of b   in b and the result only                   -> N
 *   lone        in one operand only, not the result        -> summed out of it first
 * a is transposed to [batch, free a, contracted] and reshaped to [G, M, K]
 * ([M, K] without batch letters), b to [G, K, N]; an operand whose own order is the
 * transposed one ([G, N, K]: k in q k^T) is only reshaped, and read through the
 * product's transposed flag. Then
 *   - a matrix product, batched over G (one sgemm per batch element);
 *   - or, when nothing is contracted (K = 1: an outer product) or M = N = 1 (a row
 *     dot: G products of 1x1 would be all call overhead), the elementwise product
 *     [G, M, K, 1] * [G, 1, K, N] summed over K;
 * and the [G, M, N] result reshaped to the letters' sizes and transposed into the
 * result's order. check_einsum has checked the spec against the operands. */
#include "einsum.h"
#include "lower_impl.h"

#include <string.h>

_Static_assert(EINSUM_MAX_AXES == IR_MAX_RANK, "an einsum term has at most as many axes as a tensor");

typedef struct Group {
    int n;
    char letter[IR_MAX_RANK];
} Group;

static void add(Group *g, char l) { g->letter[g->n++] = l; }

/* x with the axes of its lone letters summed and dropped; its letters in *kept. */
static int drop_lone(Lower *L, int x, const EinsumSpec *s, int t, Group *kept, Span at) {
    uint32_t lone = 0;
    kept->n = 0;
    for (int i = 0; i < s->rank[t]; i++) {
        char l = s->letter[t][i];
        if (einsum_axis(s, 1 - t, l) < 0 && einsum_axis(s, 2, l) < 0) lone |= 1u << i;
        else add(kept, l);
    }
    return lone ? drop_axes(L, ir_reduce(L->g, IR_SUM, x, lone, at), lone, at) : x;
}

/* The permutation that puts the axes of `have` in the order of the groups' letters;
 * true when it is the identity. */
static bool group_perm(const Group *have, const Group *const *groups, int ng, int *perm) {
    int n = 0;
    for (int k = 0; k < ng; k++)
        for (int i = 0; i < groups[k]->n; i++)
            for (int j = 0; j < have->n; j++)
                if (have->letter[j] == groups[k]->letter[i]) perm[n++] = j;
    bool identity = true;
    for (int i = 0; i < n; i++) identity &= perm[i] == i;
    return identity;
}

/* x (letters `have`) with its axes in the groups' order. */
static int arrange(Lower *L, int x, const Group *have, const Group *const *groups, int ng, Span at) {
    int perm[IR_MAX_RANK];
    return group_perm(have, groups, ng, perm) ? x : ir_transpose(L->g, x, perm, at);
}

/* The product of the sizes of a group's letters in operand x (letters `have`). */
static bool group_size(Lower *L, int x, const Group *have, const Group *grp, Span at, IrDim *out) {
    IrShape s = shape_of(L, x);
    *out = ir_dim_const(1);
    for (int i = 0; i < grp->n; i++)
        for (int j = 0; j < have->n; j++)
            if (have->letter[j] == grp->letter[i] && !dim_mul(*out, s.d[j], out)) {
                diag_error(L->d, at, "this einsum has a multiple of B times B elements in one group of axes");
                call_trail(L);
                return false;
            }
    return true;
}

static bool is_one(IrDim d) { return d.b == 0 && d.c == 1; }

Val lower_einsum(Lower *L, Frame *f, const Expr *call) {
    Span at = call->span;
    const Expr *se = arg_of(call, 0, "spec");
    EinsumSpec s;
    char why[512];
    int a, b;
    if (!se || se->kind != EX_STR || !einsum_parse(se->str, &s, why, sizeof why)) return v_none(); /* check said */
    if (!need_node(L, eval_arg(L, f, call, 1, "a"), at, &a) || !need_node(L, eval_arg(L, f, call, 2, "b"), at, &b))
        return v_none();
    Group ha, hb, batch = {0}, free_a = {0}, contracted = {0}, free_b = {0};
    a = drop_lone(L, to_f32(L, a, at), &s, 0, &ha, at);
    b = drop_lone(L, to_f32(L, b, at), &s, 1, &hb, at);
    for (int i = 0; i < ha.n; i++) {
        char l = ha.letter[i];
        bool in_b = einsum_axis(&s, 1, l) >= 0, in_out = einsum_axis(&s, 2, l) >= 0;
        add(in_b && in_out ? &batch : in_b ? &contracted : &free_a, l);
    }
    for (int i = 0; i < hb.n; i++)
        if (einsum_axis(&s, 0, hb.letter[i]) < 0) add(&free_b, hb.letter[i]);
    IrDim G, M, K, N;
    if (!group_size(L, a, &ha, &batch, at, &G) || !group_size(L, a, &ha, &free_a, at, &M) ||
        !group_size(L, a, &ha, &contracted, at, &K) || !group_size(L, b, &hb, &free_b, at, &N))
        return v_none();
    /* the result's axes before the last transpose: batch, free of a, free of b */
    IrShape sa = shape_of(L, a), sb = shape_of(L, b), mid = {0};
    const Group *const mid_groups[3] = {&batch, &free_a, &free_b};
    Group mid_letters = {0};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < mid_groups[k]->n; i++) {
            char l = mid_groups[k]->letter[i];
            for (int j = 0; j < ha.n; j++)
                if (ha.letter[j] == l) mid.d[mid.rank] = sa.d[j];
            for (int j = 0; j < hb.n; j++)
                if (hb.letter[j] == l) mid.d[mid.rank] = sb.d[j];
            mid.rank++;
            add(&mid_letters, l);
        }
    int m;
    if (is_one(K) || (is_one(M) && is_one(N))) {
        const Group *const ga[3] = {&batch, &free_a, &contracted}, *const gb[3] = {&batch, &contracted, &free_b};
        IrDim da[4] = {G, M, K, ir_dim_const(1)}, db[4] = {G, ir_dim_const(1), K, N};
        int xa = ir_reshape(L->g, arrange(L, a, &ha, ga, 3, at), ir_shape(4, da), at);
        int xb = ir_reshape(L->g, arrange(L, b, &hb, gb, 3, at), ir_shape(4, db), at);
        IrDim dm[3] = {G, M, N};
        m = ir_reshape(L->g, ir_reduce(L->g, IR_SUM, ir_binary(L->g, IR_MUL, xa, xb, at), 1u << 2, at),
                       ir_shape(3, dm), at);
    } else {
        bool batched = batch.n > 0;
        /* an operand already in the product's order, or in its transposed order (k of
         * q k^T as it is), is only reshaped: the product's flag reads it transposed */
        const Group *const ga[3] = {&batch, &free_a, &contracted}, *const gat[3] = {&batch, &contracted, &free_a};
        const Group *const gb[3] = {&batch, &contracted, &free_b}, *const gbt[3] = {&batch, &free_b, &contracted};
        IrDim da[3] = {G, M, K}, dat[3] = {G, K, M}, db[3] = {G, K, N}, dbt[3] = {G, N, K};
        int perm[IR_MAX_RANK], r = 2 + batched;
        bool trans_a = !group_perm(&ha, ga, 3, perm) && group_perm(&ha, gat, 3, perm);
        bool trans_b = !group_perm(&hb, gb, 3, perm) && group_perm(&hb, gbt, 3, perm);
        int xa = trans_a ? ir_reshape(L->g, a, ir_shape(r, dat + !batched), at)
                         : ir_reshape(L->g, arrange(L, a, &ha, ga, 3, at), ir_shape(r, da + !batched), at);
        int xb = trans_b ? ir_reshape(L->g, b, ir_shape(r, dbt + !batched), at)
                         : ir_reshape(L->g, arrange(L, b, &hb, gb, 3, at), ir_shape(r, db + !batched), at);
        m = ir_matmul(L->g, xa, xb, trans_a, trans_b, at);
    }
    m = ir_reshape(L->g, m, mid, at);
    int perm[IR_MAX_RANK];
    for (int i = 0; i < s.rank[2]; i++)
        for (int j = 0; j < mid_letters.n; j++)
            if (mid_letters.letter[j] == s.letter[2][i]) perm[i] = j;
    bool identity = true;
    for (int i = 0; i < s.rank[2]; i++) identity &= perm[i] == i;
    return v_node(identity ? m : ir_transpose(L->g, m, perm, at));
}
