/* fuse.c — from the IR graph to the kernel plan (DESIGN.md, Kernel plan).
 *
 * Every live node gets one of three fates:
 *  - memory it already has: parameters and inputs (the context's pointers), and
 *    reshapes, which are views of their operand's row-major memory;
 *  - inlined: computed at each index inside the loop nest of the kernel that
 *    consumes it (elementwise ops, broadcasts and other movement, constants,
 *    gathers), so a chain of them costs one pass over memory;
 *  - a kernel root: stored to the workspace by its own kernel (matmuls, random
 *    draws, reductions, and any value that several kernels or a library call read).
 * Optimizer updates are kernels of their own, run after every other kernel: all
 * gradients are taken at the old parameters, as the interpreter does.
 */
#include "kernel.h"

#include <limits.h>
#include <string.h>

int64_t ksize_eval(KSize s, int64_t B) { return (s.c[2] * B + s.c[1]) * B + s.c[0]; }

size_t kernel_plan_workspace(const KernelPlan *p, int64_t B) {
    int64_t n = ksize_eval(p->workspace, B);
    return n > 0 ? (size_t)n : 0;
}

const char *kernel_kind_name(KernelKind k) {
    static const char *const names[] = {
        [K_LOOP] = "loop",       [K_REDUCE] = "reduce",   [K_ARGMAX] = "argmax",
        [K_SGEMM] = "sgemm",     [K_RANDOM] = "random",   [K_SHIFT2D] = "shift2d",
        [K_SCATTER] = "scatter", [K_FOLD] = "fold",       [K_IM2COL] = "im2col",
        [K_CONV] = "conv",
        [K_UPDATE] = "update",   [K_SPARSE_UPDATE] = "sparse_update",
        [K_COLLECTIVE] = "collective", [K_COLLECTIVE_WAIT] = "collective_wait",
        [K_JOINED] = "joined",
    };
    return names[k];
}

/* ------------------------------------------------------------------ sizes */

static int64_t round_up64(int64_t x) { return x >= 0 ? (x + 63) / 64 * 64 : -(-x / 64 * 64); }

/* Element count of s as a polynomial in B; false above degree 2. */
static bool numel_poly(const IrShape *s, int64_t out[3]) {
    int64_t p[IR_MAX_RANK + 1] = {1};
    int deg = 0;
    for (int i = 0; i < s->rank; i++) {
        IrDim d = s->d[i];
        int64_t q[IR_MAX_RANK + 1] = {0};
        for (int k = 0; k <= deg; k++) {
            q[k] += p[k] * d.c;
            q[k + 1] += p[k] * d.b;
        }
        if (d.b) deg++;
        memcpy(p, q, sizeof p);
    }
    for (int k = 3; k <= deg; k++)
        if (p[k]) return false;
    memcpy(out, p, 3 * sizeof *out);
    return true;
}

static KSize ksize_scaled(const int64_t poly[3], int64_t bytes_per, int64_t plus) {
    KSize s;
    for (int k = 0; k < 3; k++) s.c[k] = round_up64(poly[k] * bytes_per + (k == 0 ? plus : 0));
    return s;
}

static bool ksize_fits(KSize slot, KSize want) {
    for (int k = 0; k < 3; k++)
        if (slot.c[k] < want.c[k]) return false;
    return true;
}

static KSize ksize_add(KSize a, KSize b) {
    for (int k = 0; k < 3; k++) a.c[k] += b.c[k];
    return a;
}

/* ---------------------------------------------------------- classification */

static const IrNode *nd(const IrGraph *g, int n) { return &g->nodes.items[n]; }

static bool is_elementwise(IrOp op) {
    IrClass c = ir_op_info[op].cls;
    return c == IRC_UNARY || c == IRC_BINARY || c == IRC_TERNARY;
}

/* Computed at an index for the price of an index calculation. */
static bool is_cheap(IrOp op) {
    return op == IR_CONST || op == IR_DIMVAL || op == IR_ARANGE ||
           (ir_op_info[op].cls == IRC_MOVE && op != IR_RESHAPE);
}

/* A few instructions, no call: recomputing it in each reader (up to
 * LIGHT_COPIES times) is cheaper than storing it and loading it back, e.g. a
 * bias add read by the activation and again by the activation's gradient. */
enum { LIGHT_COPIES = 3 };
static bool is_light(IrOp op) {
    switch (op) {
    case IR_NEG: case IR_ABS: case IR_SIGN: case IR_RELU: case IR_TO_F32: case IR_STOP_GRAD:
    case IR_ADD: case IR_SUB: case IR_MUL: case IR_MAX: case IR_MIN: case IR_EQ: case IR_NE:
    case IR_LT: case IR_LE: case IR_GT: case IR_GE: case IR_WHERE:
        return true;
    default:
        return false;
    }
}

/* Can be computed at any index inside a loop nest. */
static bool is_inlinable(IrOp op) { return is_elementwise(op) || is_cheap(op) || op == IR_GATHER; }

/* Does consumer c evaluate its input number `pos` at indices (inside its loop nest)? */
static bool evaluates_inline(const IrNode *c, int pos, bool sparse_update) {
    IrClass cls = ir_op_info[c->op].cls;
    if (is_elementwise(c->op) || cls == IRC_REDUCE) return true;
    if (cls == IRC_MOVE) return c->op != IR_RESHAPE;
    if (c->op == IR_GATHER) return pos == 1;
    if (c->op == IR_UPDATE) return pos == 1 && !sparse_update;
    return false;
}

/* ------------------------------------------------------------------ plan */

/* ST_COLUMNS: an unfold whose products make its columns image by image (direct_convs).
 * ST_PART: a slice of an all-reduce's sums, read in place (sums_part). */
typedef enum { ST_DEAD, ST_INLINE, ST_ROOT, ST_EXTERN, ST_UPDATE, ST_IN_SPARSE, ST_COLUMNS, ST_PART } Status;

typedef struct Fuser {
    const IrGraph *g;
    KernelPlan *p;
    Arena *a;
    Status *st;
    int *uses;
    bool *force_mem;
    bool *sparse;     /* per UPDATE node: its gradient is a scatter_add it consumes */
    bool *updated;    /* per param index: has an update */
    /* Parts of an all-reduce's bucket: per node, the node whose memory holds it
     * (-1: none) and its byte offset there; a slice of the sums is part of the
     * all-reduce, a gradient joined into the bucket part of the concat (join_buckets). */
    int *part_of;
    int64_t *part_at;
    StrBuf *why;
} Fuser;

/* Lowering refuses what a program can write and the fuser cannot plan, at the
 * code; a refusal here is a compiler bug, named with the .rl line its node came
 * from where it has one, so the report can be traced to the source. */
static bool unsupported(Fuser *f, int n, const char *what) {
    const IrNode *x = nd(f->g, n);
    sb_printf(f->why, "node %d (%s", n, (unsigned)x->op < IR_OP_COUNT ? ir_op_info[x->op].name : "?");
    if (x->span.file) sb_printf(f->why, ", from %s:%d:%d", x->span.file->path, x->span.line, x->span.col);
    sb_printf(f->why, "): %s", what);
    return false;
}

static bool mark_live(Fuser *f) {
    const IrGraph *g = f->g;
    bool *live = arena_alloc(f->a, (size_t)g->nodes.len + 1);
    if (g->loss >= 0) live[g->loss] = true;
    if (g->output >= 0) live[g->output] = true;
    for (int i = 0; i < g->reports.len; i++) live[g->reports.items[i].node] = true;
    for (int n = 0; n < g->nodes.len; n++)
        if (nd(g, n)->op == IR_UPDATE) live[n] = true;
    for (int n = g->nodes.len - 1; n >= 0; n--) {
        if (!live[n]) continue;
        const IrNode *x = nd(g, n);
        if (x->nin < 0 || x->nin > 3) return unsupported(f, n, "bad input count");
        f->st[n] = ST_INLINE; /* provisional */
        for (int i = 0; i < x->nin; i++) {
            if (x->in[i] < 0 || x->in[i] >= n) return unsupported(f, n, "inputs out of order");
            live[x->in[i]] = true;
            f->uses[x->in[i]]++;
        }
    }
    return true;
}

/* A gradient the optimizer can apply row by row: a scatter_add, or a sum of
 * them (a table gathered in several places, e.g. skip-gram's context vectors
 * read for the true and the negative words), each part read only by that sum. */
static bool sparse_gradient(Fuser *f, int n) {
    const IrNode *x = nd(f->g, n);
    if (x->op == IR_SCATTER_ADD) return true;
    if (x->op != IR_ADD) return false;
    for (int i = 0; i < 2; i++) {
        const IrNode *in = nd(f->g, x->in[i]);
        if (f->uses[x->in[i]] != 1 || !ir_shape_eq(&in->shape, &x->shape) ||
            !sparse_gradient(f, x->in[i]))
            return false;
    }
    return true;
}

static void mark_sparse(Fuser *f, int n) {
    f->st[n] = ST_IN_SPARSE;
    const IrNode *x = nd(f->g, n);
    if (x->op == IR_ADD)
        for (int i = 0; i < 2; i++) mark_sparse(f, x->in[i]);
}

/* The scatter_adds of a sparse gradient, left to right (the interpreter's order). */
static void sparse_parts(Fuser *f, int n, Kernel *k) {
    const IrNode *x = nd(f->g, n);
    if (x->op == IR_SCATTER_ADD) {
        vec_push(f->a, &k->scatters, n);
        return;
    }
    for (int i = 0; i < 2; i++) sparse_parts(f, x->in[i], k);
}

static bool is_result(const IrGraph *g, int n) {
    if (n == g->loss || n == g->output) return true;
    for (int i = 0; i < g->reports.len; i++)
        if (g->reports.items[i].node == n) return true;
    return false;
}

/* A slice of an all-reduce's sums that is one contiguous run of its memory (every
 * axis before the sliced one of size 1, constant bounds and inner sizes): a
 * parameter's gradient taken back from its bucket (autodiff.c). Its readers read
 * it where the sums are, instead of a copy. */
static bool sums_part(Fuser *f, int n) {
    const IrNode *x = nd(f->g, n), *in = nd(f->g, x->in[0]);
    if (x->op != IR_SLICE || in->op != IR_ALLREDUCE || x->start_b != 0 || is_result(f->g, n)) return false;
    int64_t inner = 1;
    for (int d = 0; d < in->shape.rank; d++) {
        IrDim dim = in->shape.d[d];
        if (dim.b != 0 || (d < x->axis && dim.c != 1)) return false;
        if (d > x->axis) inner *= dim.c;
    }
    f->part_of[n] = x->in[0];
    f->part_at[n] = x->start * inner * 4;
    return true;
}

/* The all-reduce whose sums a node (through reshape views) is a slice of, or -1. */
static int sums_of_part(const Fuser *f, int n) {
    while (nd(f->g, n)->op == IR_RESHAPE && f->st[n] == ST_EXTERN) n = nd(f->g, n)->in[0];
    return f->st[n] == ST_PART ? f->part_of[n] : -1;
}

/* Decides each live node's fate, consumers (higher ids) before producers. */
static bool decide(Fuser *f) {
    const IrGraph *g = f->g;
    int N = g->nodes.len;
    int *copies = arena_alloc(f->a, sizeof(int) * (size_t)N); /* evaluations per step */
    bool *under_bcast = arena_alloc(f->a, (size_t)N);
    bool *consumer_needs_mem = arena_alloc(f->a, (size_t)N);
    if (g->loss >= 0) f->force_mem[g->loss] = true;
    if (g->output >= 0) f->force_mem[g->output] = true;
    for (int i = 0; i < g->reports.len; i++) f->force_mem[g->reports.items[i].node] = true;

    for (int n = N - 1; n >= 0; n--) {
        if (f->st[n] == ST_DEAD) continue;
        const IrNode *x = nd(g, n);
        int64_t poly[3];
        if (!numel_poly(&x->shape, poly)) return unsupported(f, n, "size grows faster than B^2");

        if (f->st[n] == ST_IN_SPARSE) {
            /* handled with its update below */
        } else if (x->op == IR_PARAM || x->op == IR_INPUT || x->op == IR_RESHAPE) {
            f->st[n] = ST_EXTERN;
        } else if (sums_part(f, n)) {
            f->st[n] = ST_PART;
        } else if (x->op == IR_UPDATE) {
            f->st[n] = ST_UPDATE;
            const IrNode *p = nd(g, x->in[0]);
            if (p->op != IR_PARAM) return unsupported(f, n, "updates a non-parameter");
            if (x->index != p->index) return unsupported(f, n, "index differs from its param");
            f->updated[p->index] = true;
            const IrNode *gr = nd(g, x->in[1]);
            if (!ir_shape_eq(&gr->shape, &p->shape))
                return unsupported(f, n, "gradient shape differs from the parameter's");
            if (p->shape.rank >= 1 && f->uses[x->in[1]] == 1 && sparse_gradient(f, x->in[1])) {
                f->sparse[n] = true;
                mark_sparse(f, x->in[1]);
            }
        } else if (!is_inlinable(x->op) || f->force_mem[n] || consumer_needs_mem[n] ||
                   (!is_cheap(x->op) &&
                    (under_bcast[n] || copies[n] > (is_light(x->op) ? LIGHT_COPIES : 1)))) {
            f->st[n] = ST_ROOT;
        } else {
            f->st[n] = ST_INLINE;
        }

        bool sparse = x->op == IR_UPDATE && f->sparse[n];
        for (int i = 0; i < x->nin; i++) {
            int in = x->in[i];
            /* A sparse update hands its scatter's operands to the runtime as memory. */
            /* a stored unfold is an im2col call: its image must be in memory */
            bool inl = evaluates_inline(x, i, sparse) && f->st[n] != ST_IN_SPARSE && f->st[n] != ST_PART &&
                       !(x->op == IR_UNFOLD && f->st[n] == ST_ROOT);
            if (!inl) consumer_needs_mem[in] = true;
            /* x(d, d) evaluates d twice at the same index: LLVM's GVN keeps one. */
            bool repeat = (i > 0 && x->in[0] == in) || (i > 1 && x->in[1] == in);
            if (!repeat) copies[in] += f->st[n] == ST_INLINE ? copies[n] : 1;
            /* an unfold reads each element up to kh*kw times: like a broadcast */
            if (x->op == IR_BROADCAST || x->op == IR_UNFOLD || (under_bcast[n] && f->st[n] == ST_INLINE))
                under_bcast[in] = true;
            if (x->op == IR_RESHAPE) f->force_mem[in] = true;
        }
    }
    return true;
}

/* A convolution's columns (a stored unfold, c*kh*kw x n*oh*ow floats: 14 MB for conv 2 of
 * the CNN at batch 64) go to memory and back between rt_im2col and sgemm's packing, and
 * stay from the forward to the weight gradient. When every reader of the unfold is a 2-D
 * product that takes it, reshaped to [K, N*OH*OW], as its right operand with a plain left
 * one (the forward W @ cols and the weight gradient dY @ cols^T; the input gradient
 * W^T @ dY does not read the columns), the columns are never stored: those products become
 * K_CONV kernels that read the image and make one image's columns at a time in cache
 * (rt_conv, rt_conv_weight_grad in runtime/image.c). */
static void direct_convs(Fuser *f) {
    const IrGraph *g = f->g;
    int N = g->nodes.len;
    bool *direct = arena_alloc(f->a, (size_t)N);
    for (int n = 0; n < N; n++) {
        const IrNode *x = nd(g, n);
        direct[n] = x->op == IR_UNFOLD && f->st[n] == ST_ROOT && x->a == 0;
    }
    for (int n = 0; n < N; n++) {
        if (f->st[n] == ST_DEAD) continue;
        const IrNode *x = nd(g, n);
        for (int i = 0; i < x->nin; i++) {
            int in = x->in[i];
            const IrNode *r = nd(g, in);
            if (direct[in]) {
                /* the columns reshaped to a matrix [K, N*OH*OW] */
                if (x->op != IR_RESHAPE || x->shape.rank != 2 || x->shape.d[0].b != 0 ||
                    x->shape.d[0].c != r->shape.d[0].c * r->shape.d[1].c * r->shape.d[2].c ||
                    f->force_mem[n])
                    direct[in] = false;
            } else if (r->op == IR_RESHAPE && direct[r->in[0]]) {
                if (x->op != IR_MATMUL || i != 1 || x->in[0] == in || x->trans_a || x->shape.rank != 2)
                    direct[r->in[0]] = false;
            }
        }
    }
    for (int n = 0; n < N; n++)
        if (direct[n]) f->st[n] = ST_COLUMNS;
    /* The input gradient col2im(W^T @ dY) (and conv_transpose2d's forward): a fold of a
     * product that nothing else reads makes the product's columns image by image too. */
    for (int n = 0; n < N; n++) {
        const IrNode *x = nd(g, n);
        if (x->op != IR_FOLD || f->st[n] != ST_ROOT) continue;
        int r = x->in[0], m = nd(g, r)->in[0];
        const IrNode *mm = nd(g, m);
        if (nd(g, r)->op == IR_RESHAPE && f->uses[r] == 1 && !f->force_mem[r] && mm->op == IR_MATMUL &&
            f->st[m] == ST_ROOT && f->uses[m] == 1 && mm->trans_a && !mm->trans_b && mm->shape.rank == 2 &&
            nd(g, mm->in[0])->shape.rank == 2)
            f->st[m] = ST_COLUMNS;
    }
}

/* The product whose columns a fold makes image by image (direct_convs); -1 otherwise. */
static int folded_product(const Fuser *f, int n) {
    const IrNode *x = nd(f->g, n);
    if (x->op != IR_FOLD) return -1;
    int m = nd(f->g, x->in[0])->in[0];
    return nd(f->g, x->in[0])->op == IR_RESHAPE && f->st[m] == ST_COLUMNS ? m : -1;
}

/* The image a product reads in place of its right operand, the columns of a
 * convolution made image by image; -1 for any other product. */
static int direct_conv_image(const Fuser *f, int n) {
    const IrNode *x = nd(f->g, n);
    if (x->op != IR_MATMUL) return -1;
    const IrNode *cols = nd(f->g, x->in[1]);
    if (cols->op != IR_RESHAPE || f->st[cols->in[0]] != ST_COLUMNS) return -1;
    return nd(f->g, cols->in[0])->in[0];
}

static void collect_tree(Fuser *f, Kernel *k, int n, bool *seen_node, bool *seen_read) {
    const IrNode *x = nd(f->g, n);
    for (int i = 0; i < x->nin; i++) {
        int in = x->in[i];
        if (x->op == IR_UPDATE && i == 0) {
            seen_read[in] = true;
            continue;
        }
        if (f->st[in] == ST_INLINE || f->st[in] == ST_IN_SPARSE) {
            if (!seen_node[in]) {
                seen_node[in] = true;
                collect_tree(f, k, in, seen_node, seen_read);
            }
        } else {
            seen_read[in] = true;
        }
    }
}

static Kernel make_kernel(Fuser *f, int root, KernelKind kind) {
    const IrGraph *g = f->g;
    Kernel k = {.kind = kind, .root = root};
    bool *seen_node = arena_alloc(f->a, (size_t)g->nodes.len);
    bool *seen_read = arena_alloc(f->a, (size_t)g->nodes.len);
    seen_node[root] = true;
    collect_tree(f, &k, root, seen_node, seen_read);
    if (kind == K_CONV && nd(g, root)->op == IR_FOLD) {
        const IrNode *m = nd(g, folded_product(f, root));
        seen_read[nd(g, root)->in[0]] = false;
        seen_read[m->in[0]] = seen_read[m->in[1]] = true;
    } else if (kind == K_CONV) {
        seen_read[nd(g, root)->in[1]] = false;
        seen_read[direct_conv_image(f, root)] = true;
    }
    /* A kernel that reads a slice of an all-reduce's sums reads the sums: its order
     * after their wait, and their memory's lifetime, follow from that. */
    for (int n = 0; n < g->nodes.len; n++)
        if (seen_read[n] && sums_of_part(f, n) >= 0) seen_read[sums_of_part(f, n)] = true;
    for (int n = 0; n < g->nodes.len; n++) {
        if (seen_node[n]) vec_push(f->a, &k.nodes, n);
        if (seen_read[n]) vec_push(f->a, &k.reads, n);
    }
    return k;
}

bool reduce_kept_major(const IrShape *in, uint32_t axes) {
    if (in->rank == 0 || !((axes >> (in->rank - 1)) & 1u)) return false;
    bool reduced_seen = false;
    for (int i = 0; i < in->rank; i++) {
        if ((axes >> i) & 1u) reduced_seen = true;
        else if (reduced_seen) return true;
    }
    return false;
}

static bool is_flat(Fuser *f, const Kernel *k) {
    for (int i = 0; i < k->nodes.len; i++) {
        const IrNode *x = nd(f->g, k->nodes.items[i]);
        if (k->nodes.items[i] == k->root) {
            if (x->op != IR_UPDATE && !is_elementwise(x->op)) return false;
        } else if (x->op == IR_BROADCAST) {
            /* a broadcast scalar reads its one element at any index */
            const IrShape *s = &nd(f->g, x->in[0])->shape;
            for (int d = 0; d < s->rank; d++)
                if (s->d[d].b != 0 || s->d[d].c != 1) return false;
        } else if (!is_elementwise(x->op) && x->op != IR_CONST && x->op != IR_DIMVAL) {
            return false;
        }
    }
    return true;
}

/* True when the kernel's inlined tree reads a parameter some update writes:
 * fused into an update kernel it would see another update's new value. */
static bool reads_updated_param(Fuser *f, const Kernel *k) {
    for (int i = 0; i < k->reads.len; i++) {
        const IrNode *r = nd(f->g, k->reads.items[i]);
        while (r->op == IR_RESHAPE) r = nd(f->g, r->in[0]);
        bool own = k->reads.items[i] == nd(f->g, k->root)->in[0];
        /* Its own parameter is fine at the same index, i.e. in a flat kernel. */
        if (r->op == IR_PARAM && f->updated[r->index] && !(own && is_flat(f, k))) return true;
    }
    return false;
}

static KernelKind kind_of(const Fuser *f, int n) {
    IrOp op = nd(f->g, n)->op;
    if (op == IR_UNFOLD) return K_IM2COL;
    if (direct_conv_image(f, n) >= 0 || folded_product(f, n) >= 0) return K_CONV;
    switch (ir_op_info[op].cls) {
    case IRC_REDUCE: return op == IR_ARGMAX ? K_ARGMAX : K_REDUCE;
    case IRC_MATMUL: return K_SGEMM;
    case IRC_RANDOM: return op == IR_SHIFT2D ? K_SHIFT2D : K_RANDOM;
    case IRC_GATHER: return op == IR_SCATTER_ADD ? K_SCATTER : K_LOOP;
    case IRC_WINDOW: return K_FOLD;
    case IRC_COLLECTIVE: return K_COLLECTIVE;
    default: return K_LOOP;
    }
}

static void build_kernels(Fuser *f) {
    const IrGraph *g = f->g;
    for (int n = 0; n < g->nodes.len; n++)
        if (f->st[n] == ST_ROOT) vec_push(f->a, &f->p->kernels, make_kernel(f, n, kind_of(f, n)));
    for (int n = 0; n < g->nodes.len; n++) {
        if (f->st[n] != ST_UPDATE) continue;
        Kernel k = make_kernel(f, n, f->sparse[n] ? K_SPARSE_UPDATE : K_UPDATE);
        if (f->sparse[n]) sparse_parts(f, nd(g, n)->in[1], &k);
        if (k.kind == K_UPDATE && reads_updated_param(f, &k)) {
            /* Compute the gradient first, with the other kernels. */
            int gr = nd(g, n)->in[1];
            f->st[gr] = ST_ROOT;
            Kernel gk = make_kernel(f, gr, kind_of(f, gr));
            int at = 0;
            while (at < f->p->kernels.len && f->p->kernels.items[at].kind != K_UPDATE &&
                   f->p->kernels.items[at].kind != K_SPARSE_UPDATE)
                at++;
            vec_push(f->a, &f->p->kernels, gk);
            memmove(&f->p->kernels.items[at + 1], &f->p->kernels.items[at],
                    sizeof(Kernel) * (size_t)(f->p->kernels.len - 1 - at));
            f->p->kernels.items[at] = gk;
            k = make_kernel(f, n, K_UPDATE);
        }
        vec_push(f->a, &f->p->kernels, k);
    }
    for (int i = 0; i < f->p->kernels.len; i++) {
        Kernel *k = &f->p->kernels.items[i];
        const IrNode *r = nd(g, k->root);
        switch (k->kind) {
        case K_LOOP:
        case K_UPDATE:
            k->flat = is_flat(f, k);
            k->parallel = true;
            break;
        case K_REDUCE:
            k->parallel = r->shape.rank > 0 &&
                          (!(r->axes & 1u) || reduce_kept_major(&nd(g, r->in[0])->shape, r->axes));
            break;
        case K_ARGMAX: k->parallel = r->shape.rank > 0 && !(r->axes & 1u); break;
        case K_RANDOM: k->parallel = true; break;
        default: break;
        }
    }
}

/* The node whose memory a kernel reads for n: n itself, or what a reshape views. */
static int stored_node(const Fuser *f, int n) {
    while (nd(f->g, n)->op == IR_RESHAPE && f->st[n] == ST_EXTERN) n = nd(f->g, n)->in[0];
    return n;
}

/* A kernel that gathers rows of a table which the step's sparse update writes
 * (an embedding lookup whose gradient is sparse) is never split across threads,
 * nor is a row group holding one. Such a lookup reads rows that the last step's
 * update wrote on the calling thread, and the gradient rows it leads to are read
 * back by that update: split, every row the other thread takes crosses between the
 * cores' caches twice a step. A cache-line transfer costs ~100 ns, the ~7 lines of
 * a 100-float row far more than the row's ~1,600 flops of lookup, scoring and
 * gradient (~0.1 us), so the split loses at any batch size: the skip-gram step ran
 * 2x slower at 2 threads than at 1 (docs/performance.md). */
static void mark_hot_rows(Fuser *f) {
    const IrGraph *g = f->g;
    bool *sparse_param = arena_alloc(f->a, (size_t)g->params.len + 1);
    memset(sparse_param, 0, (size_t)g->params.len + 1);
    for (int i = 0; i < f->p->kernels.len; i++) {
        const Kernel *k = &f->p->kernels.items[i];
        if (k->kind == K_SPARSE_UPDATE) sparse_param[nd(g, k->root)->index] = true;
    }
    for (int i = 0; i < f->p->kernels.len; i++) {
        Kernel *k = &f->p->kernels.items[i];
        for (int j = 0; j < k->nodes.len && !k->hot_rows; j++) {
            const IrNode *x = nd(g, k->nodes.items[j]);
            if (x->op != IR_GATHER) continue;
            const IrNode *table = nd(g, stored_node(f, x->in[0]));
            k->hot_rows = table->op == IR_PARAM && sparse_param[table->index];
        }
    }
}

static bool reads_node(const Fuser *f, const Kernel *k, int n) {
    for (int j = 0; j < k->reads.len; j++)
        if (stored_node(f, k->reads.items[j]) == n) return true;
    return false;
}

/* The kernel that stores n, or -1 (a parameter, an input). */
static int kernel_storing(const Fuser *f, int n) {
    for (int i = 0; i < f->p->kernels.len; i++)
        if (f->p->kernels.items[i].root == n && f->p->kernels.items[i].kind != K_COLLECTIVE_WAIT) return i;
    return -1;
}

/* Moves kernel `from` to position `to` (to <= from), the ones between one later. */
static void move_kernel_up(KernelPlan *p, int from, int to) {
    Kernel k = p->kernels.items[from];
    memmove(&p->kernels.items[to + 1], &p->kernels.items[to], sizeof(Kernel) * (size_t)(from - to));
    p->kernels.items[to] = k;
}

/* Moves kernel i up to just after the last kernel storing what it reads; its new index. */
static int hoist(Fuser *f, int i) {
    const Kernel *k = &f->p->kernels.items[i];
    int after = -1;
    for (int j = 0; j < k->reads.len; j++) {
        int at = kernel_storing(f, stored_node(f, k->reads.items[j]));
        if (at > after) after = at;
    }
    if (after + 1 < i) move_kernel_up(f->p, i, after + 1);
    return after + 1 < i ? after + 1 : i;
}

/* True when no kernel reads what kernel i stores and it reads no parameter: it
 * makes a result of the step only (the loss, a report), so it may run last, even
 * after the updates. */
static bool makes_result_only(const Fuser *f, int i) {
    const Kernel *k = &f->p->kernels.items[i];
    if (k->kind != K_LOOP && k->kind != K_REDUCE) return false;
    for (int j = 0; j < k->reads.len; j++)
        if (nd(f->g, stored_node(f, k->reads.items[j]))->op == IR_PARAM) return false;
    for (int j = 0; j < f->p->kernels.len; j++)
        if (j != i && reads_node(f, &f->p->kernels.items[j], k->root)) return false;
    return true;
}

/* Moves kernel `from` to the end of the plan (from <= the last index), the ones
 * after it one earlier. */
static void move_kernel_last(KernelPlan *p, int from) {
    Kernel k = p->kernels.items[from];
    memmove(&p->kernels.items[from], &p->kernels.items[from + 1], sizeof(Kernel) * (size_t)(p->kernels.len - 1 - from));
    p->kernels.items[p->kernels.len - 1] = k;
}

/* An all-reduce (each bucket of parameter gradients, a mean loss) runs while the
 * step goes on, as DDP and Horovod overlap the gradients' all-reduce with the
 * backward pass: its kernel only starts it (rt_allreduce_start) and moves up to
 * just after the kernels that store what it reads (with the concat that joins a
 * bucket's gradients, when the all-reduce alone reads that; a kernel that makes
 * a gradient stays where it is); a K_COLLECTIVE_WAIT
 * goes just before the first kernel that reads its sums. A kernel that reads the
 * sums only to make a result of the step (a mean loss: its sum over the processes
 * divided by the count) goes to the end of the step first, so the wait for a loss
 * is not a point in the forward pass where every process waits for the slowest.
 * The wait reads the all-reduce's input and output, so both stay allocated while
 * MPI reads and writes them. */
static void overlap_allreduces(Fuser *f) {
    KernelPlan *p = f->p;
    for (int i = 0; i < p->kernels.len; i++) {
        Kernel *k = &p->kernels.items[i];
        if (k->kind != K_COLLECTIVE || nd(f->g, k->root)->op != IR_ALLREDUCE) continue;
        int sums = k->root, values = stored_node(f, nd(f->g, sums)->in[0]);
        int joined = kernel_storing(f, values), readers = 0;
        for (int j = 0; j < p->kernels.len; j++) readers += reads_node(f, &p->kernels.items[j], values);
        if (joined >= 0 && readers == 1 && nd(f->g, values)->op == IR_CONCAT) hoist(f, joined);
        int start = hoist(f, kernel_storing(f, sums));
        for (int j = p->kernels.len - 1; j > start; j--)
            if (reads_node(f, &p->kernels.items[j], sums) && makes_result_only(f, j)) move_kernel_last(p, j);
        int first_reader = p->kernels.len;
        for (int j = start + 1; j < p->kernels.len && first_reader == p->kernels.len; j++)
            if (reads_node(f, &p->kernels.items[j], sums)) first_reader = j;
        Kernel wait = {.kind = K_COLLECTIVE_WAIT, .root = sums};
        vec_push(f->a, &wait.nodes, sums);
        vec_push(f->a, &wait.reads, nd(f->g, sums)->in[0]);
        vec_push(f->a, &wait.reads, sums);
        vec_push(f->a, &p->kernels, wait);
        move_kernel_up(p, p->kernels.len - 1, first_reader);
    }
}

/* The updates at the end of the step, with the all-reduce waits among them, in the
 * order their all-reduces started: the parameters whose gradients were summed first
 * (a bucket finished earlier in the backward pass) are updated while the later
 * buckets are still being summed by the other processes, instead of every update
 * waiting behind the last bucket. Updates are independent of one another (each
 * writes its own parameter and state; a gradient that reads another updated
 * parameter is computed before them, build_kernels), so only their place after the
 * waits they read matters; each stays after the wait of every bucket it reads. A
 * wait that no update reads keeps its place after them. */
static void update_in_bucket_order(Fuser *f) {
    KernelPlan *p = f->p;
    int first = 0;
    while (first < p->kernels.len && p->kernels.items[first].kind != K_UPDATE) first++;
    while (first > 0 && p->kernels.items[first - 1].kind == K_COLLECTIVE_WAIT) first--;
    int end = first;
    while (end < p->kernels.len &&
           (p->kernels.items[end].kind == K_UPDATE || p->kernels.items[end].kind == K_COLLECTIVE_WAIT))
        end++;
    int n = end - first;
    if (n < 3) return;
    /* the order: 2 * (when the bucket's all-reduce started) + 1 for an update, so a
     * wait comes before the updates that read its sums */
    int64_t *order = arena_alloc(f->a, sizeof(int64_t) * (size_t)n);
    for (int i = 0; i < n; i++) {
        const Kernel *k = &p->kernels.items[first + i];
        if (k->kind != K_COLLECTIVE_WAIT) continue;
        bool read = false;
        for (int j = 0; j < n && !read; j++)
            read = p->kernels.items[first + j].kind == K_UPDATE && reads_node(f, &p->kernels.items[first + j], k->root);
        order[i] = read ? 2 * (int64_t)kernel_storing(f, k->root) : INT64_MAX;
    }
    for (int i = 0; i < n; i++) {
        const Kernel *k = &p->kernels.items[first + i];
        if (k->kind != K_UPDATE) continue;
        order[i] = -1;
        for (int j = 0; j < n; j++) {
            const Kernel *w = &p->kernels.items[first + j];
            if (w->kind == K_COLLECTIVE_WAIT && reads_node(f, k, w->root) && order[j] + 1 > order[i])
                order[i] = order[j] + 1;
        }
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && order[j - 1] > order[j]; j--) {
            int64_t o = order[j];
            order[j] = order[j - 1];
            order[j - 1] = o;
            Kernel k = p->kernels.items[first + j];
            p->kernels.items[first + j] = p->kernels.items[first + j - 1];
            p->kernels.items[first + j - 1] = k;
        }
}

/* Places the parts of a concat tree (axis 0) at their offsets from `at`: each
 * operand that is not a concat computed in the same kernel is a part. False when
 * a part cannot be stored in place: it must be a kernel root of constant size
 * (through reshape views), made by a kernel that stores all of it, not a result
 * of the step, and in no other bucket. */
static bool place_parts(Fuser *f, const Kernel *joined, int n, int64_t *at) {
    const IrNode *x = nd(f->g, n);
    bool inside = false;
    for (int i = 0; i < joined->nodes.len; i++) inside = inside || joined->nodes.items[i] == n;
    if (inside && x->op == IR_CONCAT && x->axis == 0)
        return place_parts(f, joined, x->in[0], at) && place_parts(f, joined, x->in[1], at);
    if (inside) return false;
    int base = stored_node(f, n), maker = kernel_storing(f, base);
    int64_t poly[3];
    numel_poly(&nd(f->g, base)->shape, poly);
    if (f->st[base] != ST_ROOT || maker < 0 || poly[1] || poly[2] || is_result(f->g, base) ||
        f->part_of[base] != -1 || nd(f->g, base)->dtype != IR_F32)
        return false;
    KernelKind k = f->p->kernels.items[maker].kind;
    if (k == K_COLLECTIVE || k == K_COLLECTIVE_WAIT || k == K_JOINED) return false;
    f->part_of[base] = -2; /* placed, container set below */
    f->part_at[base] = *at;
    *at += poly[0] * 4;
    return true;
}

/* A bucket of gradients is a concat that only its all-reduce reads (autodiff.c):
 * each gradient is stored in place in the bucket by the kernel that makes it, and
 * the concat's kernel becomes K_JOINED, which runs no code. Without this, joining
 * a bucket is a pass over it: 0.6 ms a step for the AE's 0.94 MB at 2 processes
 * (docs/mpi.md). */
static void join_buckets(Fuser *f) {
    KernelPlan *p = f->p;
    int N = f->g->nodes.len;
    for (int i = 0; i < p->kernels.len; i++) {
        Kernel *k = &p->kernels.items[i];
        if (k->kind != K_COLLECTIVE || nd(f->g, k->root)->op != IR_ALLREDUCE) continue;
        int bucket = nd(f->g, k->root)->in[0], maker = kernel_storing(f, bucket), readers = 0;
        if (nd(f->g, bucket)->op != IR_CONCAT || maker < 0 || p->kernels.items[maker].kind != K_LOOP) continue;
        for (int j = 0; j < p->kernels.len; j++)
            readers += p->kernels.items[j].kind != K_COLLECTIVE_WAIT && reads_node(f, &p->kernels.items[j], bucket);
        int64_t at = 0;
        bool placed = readers == 1 && place_parts(f, &p->kernels.items[maker], bucket, &at);
        for (int n = 0; n < N; n++) {
            if (f->part_of[n] != -2) continue;
            f->part_of[n] = placed ? bucket : -1;
            if (!placed) f->part_at[n] = 0;
        }
        if (!placed) continue;
        Kernel *joined = &p->kernels.items[maker];
        joined->kind = K_JOINED;
        joined->flat = joined->parallel = false;
    }
}

/* Memory node that actually holds n's elements (through reshape views). */
static int base_of(const IrGraph *g, const KernelPlan *p, int n) {
    while (p->buf[n].kind == KB_VIEW) n = p->buf[n].of;
    (void)g;
    return n;
}

/* Whether n's elements lie in b's memory: b itself, a view of it, or a part of its bucket. */
static bool in_memory_of(const Fuser *f, int b, int n) {
    int m = base_of(f->g, f->p, n);
    return m == b || f->part_of[m] == b;
}

/* An all-reduce sums into its values' memory when nothing else reads them once it
 * has started (a bucket of gradients, a partial sum): its buffer is a view of
 * theirs, and its sliced parts are parts of that buffer. */
static void sum_in_place(Fuser *f) {
    const IrGraph *g = f->g;
    KernelPlan *p = f->p;
    for (int i = 0; i < p->kernels.len; i++) {
        const Kernel *k = &p->kernels.items[i];
        if (k->kind != K_COLLECTIVE || nd(g, k->root)->op != IR_ALLREDUCE) continue;
        int sums = k->root, values = nd(g, sums)->in[0], b = base_of(g, p, values);
        if (f->st[b] != ST_ROOT || f->part_of[b] >= 0) continue;
        /* the loss, the output and reports are read after the step, maybe through a view */
        bool alone = !(g->loss >= 0 && in_memory_of(f, b, g->loss)) &&
                     !(g->output >= 0 && in_memory_of(f, b, g->output));
        for (int r = 0; r < g->reports.len; r++) alone = alone && !in_memory_of(f, b, g->reports.items[r].node);
        for (int j = i + 1; j < p->kernels.len && alone; j++) {
            const Kernel *kj = &p->kernels.items[j];
            if (kj->kind == K_COLLECTIVE_WAIT && kj->root == sums) continue;
            for (int r = 0; r < kj->reads.len && alone; r++) alone = !in_memory_of(f, b, kj->reads.items[r]);
        }
        if (alone) p->buf[sums] = (KBuf){.kind = KB_VIEW, .of = values};
    }
}

typedef struct Slot {
    KSize offset, size;
    bool free;
} Slot;

/* Places every kernel root in the workspace. A buffer is freed after the last
 * kernel that reads it, never during: a kernel's output does not overlap any
 * of its inputs, which is what lets codegen mark buffer arguments noalias. */
static void plan_buffers(Fuser *f) {
    const IrGraph *g = f->g;
    KernelPlan *p = f->p;
    int N = g->nodes.len;
    for (int n = 0; n < N; n++) {
        const IrNode *x = nd(g, n);
        if (f->st[n] != ST_EXTERN) continue;
        if (x->op == IR_PARAM) p->buf[n] = (KBuf){.kind = KB_PARAM, .index = x->index};
        else if (x->op == IR_INPUT) p->buf[n] = (KBuf){.kind = KB_INPUT, .index = x->index};
        else p->buf[n] = (KBuf){.kind = KB_VIEW, .of = x->in[0]};
    }
    sum_in_place(f);
    int *last = arena_alloc(f->a, sizeof(int) * (size_t)N);
    for (int n = 0; n < N; n++) last[n] = -1;
    for (int i = 0; i < p->kernels.len; i++) {
        const Kernel *k = &p->kernels.items[i];
        for (int j = 0; j < k->reads.len; j++) last[base_of(g, p, k->reads.items[j])] = i;
    }
    /* A row group reads and writes row by row: what its members read or store stays
     * alive until its last member has run (fuse_rows.c). */
    int *group_end = arena_alloc(f->a, sizeof(int) * (size_t)(p->kernels.len + 1));
    for (int i = 0; i < p->kernels.len; i++) group_end[i] = i;
    for (int i = 0; i < p->row_groups.len; i++) {
        KRowGroup rg = p->row_groups.items[i];
        for (int j = rg.first; j < rg.first + rg.count; j++) group_end[j] = rg.first + rg.count - 1;
    }
    for (int i = 0; i < p->kernels.len; i++) {
        const Kernel *k = &p->kernels.items[i];
        for (int j = 0; j < k->reads.len; j++) last[base_of(g, p, k->reads.items[j])] = group_end[i];
        if (group_end[i] != i && last[k->root] < group_end[i]) last[k->root] = group_end[i];
    }
    if (g->loss >= 0) last[base_of(g, p, g->loss)] = INT_MAX;
    if (g->output >= 0) last[base_of(g, p, g->output)] = INT_MAX;
    for (int i = 0; i < g->reports.len; i++) last[base_of(g, p, g->reports.items[i].node)] = INT_MAX;
    /* a bucket lives as long as any of its parts */
    for (int n = 0; n < N; n++)
        if (f->part_of[n] >= 0 && last[n] > last[base_of(g, p, f->part_of[n])])
            last[base_of(g, p, f->part_of[n])] = last[n];

    Vec(Slot) slots = {0};
    int *slot_of = arena_alloc(f->a, sizeof(int) * (size_t)N);
    KSize end = {{0}};
    for (int i = 0; i < p->kernels.len; i++) {
        Kernel *k = &p->kernels.items[i];
        if (k->kind == K_UPDATE || k->kind == K_SPARSE_UPDATE) continue;
        /* a wait's root was placed by its start; a part of a bucket is placed in the
         * bucket's slot, taken by its first part's kernel */
        int owner = f->part_of[k->root] >= 0 ? base_of(g, p, f->part_of[k->root]) : k->root;
        if (k->kind != K_COLLECTIVE_WAIT && p->buf[owner].kind == KB_NONE) {
            int64_t poly[3];
            numel_poly(&nd(g, owner)->shape, poly);
            KSize want = ksize_scaled(poly, 4, 0);
            int s = -1;
            for (int j = 0; j < slots.len && s < 0; j++)
                if (slots.items[j].free && ksize_fits(slots.items[j].size, want)) s = j;
            if (s < 0) {
                Slot sl = {end, want, false};
                vec_push(f->a, &slots, sl);
                end = ksize_add(end, want);
                s = slots.len - 1;
            }
            slots.items[s].free = false;
            slot_of[owner] = s;
            p->buf[owner] = (KBuf){.kind = KB_WORK, .offset = slots.items[s].offset,
                                   .size = slots.items[s].size};
        }
        if (group_end[i] != i) continue; /* frees wait for the group's end */
        int from = i;
        while (from > 0 && group_end[from - 1] == i) from--;
        for (int m = from; m <= i; m++) {
            const Kernel *km = &p->kernels.items[m];
            for (int j = 0; j < km->reads.len; j++) {
                int b = base_of(g, p, km->reads.items[j]);
                if (last[b] == i && p->buf[b].kind == KB_WORK && f->part_of[b] < 0) slots.items[slot_of[b]].free = true;
            }
            int r = km->root;
            if ((last[r] < 0 || last[r] == i) && p->buf[r].kind == KB_WORK && f->part_of[r] < 0)
                slots.items[slot_of[r]].free = true;
        }
    }
    for (int n = 0; n < N; n++) {
        if (f->part_of[n] < 0) continue;
        int64_t poly[3];
        numel_poly(&nd(g, n)->shape, poly);
        KSize at = {{f->part_at[n]}};
        p->buf[n] = (KBuf){.kind = KB_WORK, .offset = ksize_add(p->buf[base_of(g, p, f->part_of[n])].offset, at),
                           .size = ksize_scaled(poly, 4, 0)};
    }
    /* The sparse updates' sort space for (row, position) pairs, after everything
     * else: its size follows the runtime's rt_rows_scratch_bytes, linear in rows. */
    KSize scratch = {{0}};
    for (int i = 0; i < p->kernels.len; i++) {
        Kernel *k = &p->kernels.items[i];
        if (k->kind != K_SPARSE_UPDATE) continue;
        const IrShape *ts = &nd(g, nd(g, k->root)->in[1])->shape;
        int64_t width = 1;
        for (int d = 1; d < ts->rank; d++) width *= ts->d[d].c;
        int64_t per_row = (int64_t)(rt_rows_scratch_bytes(2, width) - rt_rows_scratch_bytes(1, width));
        int64_t fixed = (int64_t)rt_rows_scratch_bytes(0, width);
        int64_t rows[3] = {0};
        for (int j = 0; j < k->scatters.len; j++) {
            int64_t poly[3];
            numel_poly(&nd(g, nd(g, k->scatters.items[j])->in[0])->shape, poly);
            for (int c = 0; c < 3; c++) rows[c] += poly[c];
        }
        KSize need = ksize_scaled(rows, per_row, fixed);
        k->scratch_offset = end;
        k->scratch_size = need;
        for (int c = 0; c < 3; c++)
            if (need.c[c] > scratch.c[c]) scratch.c[c] = need.c[c];
    }
    p->workspace = ksize_add(end, scratch);
}

static bool check_supported(Fuser *f) {
    const IrGraph *g = f->g;
    for (int n = 0; n < g->nodes.len; n++) {
        if (f->st[n] == ST_DEAD) continue;
        const IrNode *x = nd(g, n);
        if ((unsigned)x->op >= IR_OP_COUNT) return unsupported(f, n, "unknown op");
        if (x->nin != ir_op_info[x->op].arity && ir_op_info[x->op].arity >= 0)
            return unsupported(f, n, "wrong number of inputs");
        if ((x->op == IR_PARAM && (x->index < 0 || x->index >= g->params.len)) ||
            (x->op == IR_INPUT && (x->index < 0 || x->index >= g->inputs.len)))
            return unsupported(f, n, "table index out of range");
        if (x->shape.rank < 0 || x->shape.rank > IR_MAX_RANK) return unsupported(f, n, "bad rank");
        if (x->op == IR_UPDATE) {
            if (nd(g, x->in[0])->op != IR_PARAM) return unsupported(f, n, "updates a non-parameter");
            const IrParam *pp = &g->params.items[nd(g, x->in[0])->index];
            for (int d = 0; d < pp->shape.rank; d++)
                if (pp->shape.d[d].b) return unsupported(f, n, "parameter shape depends on B");
        }
    }
    return true;
}

KernelPlan *fuse_plan(Arena *a, const IrGraph *g, StrBuf *why) {
    int N = g->nodes.len;
    Fuser f = {.g = g, .a = a, .why = why};
    f.p = arena_alloc(a, sizeof *f.p);
    f.p->g = g;
    f.p->arena = a;
    f.p->buf = arena_alloc(a, sizeof(KBuf) * (size_t)(N + 1));
    f.st = arena_alloc(a, sizeof(Status) * (size_t)(N + 1));
    f.uses = arena_alloc(a, sizeof(int) * (size_t)(N + 1));
    f.force_mem = arena_alloc(a, (size_t)N + 1);
    f.sparse = arena_alloc(a, (size_t)N + 1);
    f.updated = arena_alloc(a, (size_t)g->params.len + 1);
    f.part_of = arena_alloc(a, sizeof(int) * (size_t)(N + 1));
    f.part_at = arena_alloc(a, sizeof(int64_t) * (size_t)(N + 1));
    for (int n = 0; n <= N; n++) f.part_of[n] = -1;
    if (g->loss >= N || g->loss < -1 || g->output >= N || g->output < -1) {
        sb_puts(why, "loss or output node out of range");
        return NULL;
    }
    for (int i = 0; i < g->reports.len; i++)
        if (g->reports.items[i].node < 0 || g->reports.items[i].node >= N) {
            sb_printf(why, "report %s: node out of range", g->reports.items[i].name);
            return NULL;
        }
    if (!mark_live(&f) || !check_supported(&f) || !decide(&f)) return NULL;
    direct_convs(&f);
    build_kernels(&f);
    mark_hot_rows(&f);
    overlap_allreduces(&f);
    update_in_bucket_order(&f);
    join_buckets(&f);
    fuse_row_groups(f.p);
    plan_buffers(&f);
    return f.p;
}

/* ----------------------------------------------------------------- print */

static void ksize_print(KSize s, StrBuf *out) {
    const char *sep = "";
    if (s.c[2]) { sb_printf(out, "%lld*B^2", (long long)s.c[2]); sep = " + "; }
    if (s.c[1]) { sb_printf(out, "%s%lld*B", sep, (long long)s.c[1]); sep = " + "; }
    if (s.c[0] || !*sep) sb_printf(out, "%s%lld", sep, (long long)s.c[0]);
}

void kernel_plan_print(const KernelPlan *p, StrBuf *out) {
    const IrGraph *g = p->g;
    sb_printf(out, "kernels %s: %d, workspace ", g->name ? g->name : "?", p->kernels.len);
    ksize_print(p->workspace, out);
    sb_puts(out, " bytes\n");
    for (int i = 0; i < p->kernels.len; i++) {
        const Kernel *k = &p->kernels.items[i];
        const IrNode *r = nd(g, k->root);
        sb_printf(out, "k%d %s n%d ", i, kernel_kind_name(k->kind), k->root);
        ir_shape_print(k->kind == K_UPDATE || k->kind == K_SPARSE_UPDATE
                           ? &nd(g, r->in[0])->shape : &r->shape, out);
        if (k->flat) sb_puts(out, " flat");
        if (k->parallel) sb_puts(out, " parallel");
        if (k->hot_rows) sb_puts(out, " hot_rows");
        sb_puts(out, ":");
        for (int j = 0; j < k->nodes.len; j++)
            sb_printf(out, " n%d=%s", k->nodes.items[j], ir_op_info[nd(g, k->nodes.items[j])->op].name);
        sb_puts(out, " <-");
        for (int j = 0; j < k->reads.len; j++) sb_printf(out, " n%d", k->reads.items[j]);
        if (p->buf[k->root].kind == KB_WORK) {
            sb_puts(out, " @");
            ksize_print(p->buf[k->root].offset, out);
        }
        sb_puts(out, "\n");
    }
    for (int i = 0; i < p->row_groups.len; i++) {
        KRowGroup rg = p->row_groups.items[i];
        sb_printf(out, "rows k%d-k%d\n", rg.first, rg.first + rg.count - 1);
    }
}
