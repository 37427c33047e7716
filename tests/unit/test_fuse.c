/* test_fuse.c — fusion decisions, counted in kernels (tinygrad's check_schedule),
 * and buffer planning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "kernel.h"
#include "lower.h"

static const Span NOSPAN = {0};
static IrDim C(int64_t c) { return ir_dim_const(c); }
static IrDim Bd(void) { return ir_dim_batch(); }
#define SHAPE(...) ir_shape(sizeof((IrDim[]){__VA_ARGS__}) / sizeof(IrDim), (IrDim[]){__VA_ARGS__})

static int param(IrGraph *g, const char *name, IrShape s) {
    IrParam p = {.name = name, .component = "t", .shape = s, .trained = true};
    return ir_add_param(g, p);
}
static int input(IrGraph *g, IrShape s, IrDType dt) {
    IrInput in = {.dataset = "d", .field = "x", .shape = s, .dtype = dt};
    return ir_add_input(g, in);
}

static int count_kind(const KernelPlan *p, KernelKind k) {
    int n = 0;
    for (int i = 0; i < p->kernels.len; i++) n += p->kernels.items[i].kind == k;
    return n;
}

static const Kernel *kernel_with(const KernelPlan *p, int node) {
    for (int i = 0; i < p->kernels.len; i++)
        for (int j = 0; j < p->kernels.items[i].nodes.len; j++)
            if (p->kernels.items[i].nodes.items[j] == node) return &p->kernels.items[i];
    return NULL;
}

static KernelPlan *plan(Arena *a, IrGraph *g) {
    StrBuf why = {0};
    KernelPlan *p = fuse_plan(a, g, &why);
    if (!p) fprintf(stderr, "%s\n", why.data);
    assert_non_null(p);
    sb_free(&why);
    return p;
}

/* A dense layer feeding the next: one sgemm, then one loop with the broadcast,
 * bias add and relu, stored for the next sgemm. */
static void test_dense_bias_relu(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, SHAPE(Bd(), C(8)), IR_F32);
    int w = param(g, "w", SHAPE(C(8), C(4))), b = param(g, "b", SHAPE(C(4)));
    int w2 = param(g, "w2", SHAPE(C(4), C(3)));
    int mm = ir_matmul(g, x, w, false, false, NOSPAN);
    int h = ir_unary(g, IR_RELU, ir_binary(g, IR_ADD, mm, b, NOSPAN), NOSPAN);
    int y = ir_matmul(g, h, w2, false, false, NOSPAN);
    ir_add_report(g, "sum", ir_reshape(g, ir_reduce(g, IR_SUM, y, 3, NOSPAN), (IrShape){0}, NOSPAN), NOSPAN);
    KernelPlan *p = plan(&a, g);
    StrBuf out = {0};
    kernel_plan_print(p, &out);
    printf("%s", out.data);
    assert_int_equal(count_kind(p, K_SGEMM), 2);
    const Kernel *k = kernel_with(p, h);
    assert_non_null(k);
    assert_int_equal(k->kind, K_LOOP);
    assert_int_equal(k->root, h);
    assert_int_equal(k->nodes.len, 3); /* broadcast, add, relu */
    assert_int_equal(p->kernels.len, 4); /* sgemm, loop, sgemm, sum */
    assert_int_equal(p->buf[mm].kind, KB_WORK);
    sb_free(&out);
    arena_free(&a);
}

/* A light op read by two reductions is recomputed in each, never stored. */
static void test_light_op_recomputed(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, SHAPE(Bd(), C(8)), IR_F32);
    int b = param(g, "b", SHAPE(C(8)));
    int h = ir_unary(g, IR_RELU, ir_binary(g, IR_ADD, x, b, NOSPAN), NOSPAN);
    ir_add_report(g, "sum", ir_reshape(g, ir_reduce(g, IR_SUM, h, 3, NOSPAN), (IrShape){0}, NOSPAN), NOSPAN);
    ir_add_report(g, "max", ir_reshape(g, ir_reduce(g, IR_RMAX, h, 3, NOSPAN), (IrShape){0}, NOSPAN), NOSPAN);
    KernelPlan *p = plan(&a, g);
    assert_int_equal(p->kernels.len, 2);
    assert_int_equal(count_kind(p, K_REDUCE), 2);
    assert_int_equal(p->buf[h].kind, KB_NONE);
    arena_free(&a);
}

/* An elementwise chain that feeds a reduction is one kernel with it. */
static void test_chain_into_reduction(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, SHAPE(Bd(), C(8)), IR_F32);
    int w = param(g, "w", SHAPE(C(8)));
    int d = ir_binary(g, IR_SUB, ir_unary(g, IR_EXP, x, NOSPAN), w, NOSPAN);
    int s = ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, d, d, NOSPAN), 3, NOSPAN);
    g->loss = ir_reshape(g, s, (IrShape){0}, NOSPAN);
    KernelPlan *p = plan(&a, g);
    /* d * d reads d twice at one index: still one evaluation, all in one kernel. */
    assert_int_equal(p->kernels.len, 1);
    assert_int_equal(p->kernels.items[0].kind, K_REDUCE);
    assert_int_equal(p->kernels.items[0].nodes.len, 5); /* exp, broadcast, sub, mul, sum */
    assert_int_equal(p->buf[d].kind, KB_NONE);
    assert_int_equal(p->buf[g->loss].kind, KB_VIEW);
    arena_free(&a);
}

/* A bias or batch-norm gradient over [B, C, H, W] (axes 0, 2, 3) and a tiled pooling
 * (axes 3, 5 of [B, C, OH, k, OW, k]) run kept-major, split over their first kept axis;
 * a dense bias gradient (axis 0 of [B, F]) keeps the row-major walk, which vectorizes
 * across F and cannot be split over B. */
static void test_kept_major_reduction(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, SHAPE(Bd(), C(4), C(3), C(3)), IR_F32);
    int bias = ir_reduce(g, IR_SUM, ir_unary(g, IR_EXP, x, NOSPAN), (1u << 0) | (1u << 2) | (1u << 3), NOSPAN);
    int tiles = ir_reshape(g, input(g, SHAPE(Bd(), C(2), C(4), C(4)), IR_F32),
                           SHAPE(Bd(), C(2), C(2), C(2), C(2), C(2)), NOSPAN);
    int pool = ir_reduce(g, IR_RMAX, tiles, (1u << 3) | (1u << 5), NOSPAN);
    int dense = ir_reduce(g, IR_SUM, ir_unary(g, IR_EXP, input(g, SHAPE(Bd(), C(8)), IR_F32), NOSPAN), 1u, NOSPAN);
    assert_true(reduce_kept_major(&g->nodes.items[x].shape, 0xdu));
    assert_false(reduce_kept_major(&g->nodes.items[x].shape, 0x3u)); /* innermost kept */
    assert_false(reduce_kept_major(&g->nodes.items[x].shape, 0xcu)); /* no reduced axis before a kept one */
    int total = ir_binary(g, IR_ADD, ir_reduce(g, IR_SUM, bias, 0xfu, NOSPAN),
                          ir_binary(g, IR_ADD, ir_reduce(g, IR_SUM, pool, 0x3fu, NOSPAN),
                                    ir_reduce(g, IR_SUM, dense, 0x3u, NOSPAN), NOSPAN), NOSPAN);
    g->loss = ir_reshape(g, total, (IrShape){0}, NOSPAN);
    KernelPlan *p = plan(&a, g);
    assert_true(kernel_with(p, bias)->parallel);
    assert_true(kernel_with(p, pool)->parallel);
    assert_false(kernel_with(p, dense)->parallel);
    arena_free(&a);
}

/* A dense training step: every update fuses with the elementwise chain that
 * makes its gradient, weight gradients come from sgemm with transpose flags. */
static void test_training_step_counts(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, SHAPE(Bd(), C(8)), IR_F32);
    int w = param(g, "w", SHAPE(C(8), C(4))), b = param(g, "b", SHAPE(C(4)));
    int h = ir_unary(g, IR_RELU, ir_binary(g, IR_ADD, ir_matmul(g, x, w, false, false, NOSPAN), b, NOSPAN), NOSPAN);
    g->loss = ir_reshape(g, ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, h, h, NOSPAN), 3, NOSPAN), (IrShape){0}, NOSPAN);
    g->optim = (IrOptim){.kind = OPT_ADAM, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    ad_differentiate(g);
    KernelPlan *p = plan(&a, g);
    StrBuf out = {0};
    kernel_plan_print(p, &out);
    printf("%s", out.data);
    assert_int_equal(count_kind(p, K_UPDATE), 2);
    assert_int_equal(count_kind(p, K_SGEMM), 2); /* forward, dW = x^T dh */
    /* Updates run last: every gradient sees the old parameters. */
    assert_int_equal(p->kernels.items[p->kernels.len - 1].kind, K_UPDATE);
    assert_int_equal(p->kernels.items[p->kernels.len - 2].kind, K_UPDATE);
    assert_non_null(strstr(out.data, " sgemm "));
    sb_free(&out);
    arena_free(&a);
}

/* Whether kernel k reads node n (or a reshape of it). */
static bool kernel_reads(const IrGraph *g, const Kernel *k, int n) {
    for (int j = 0; j < k->reads.len; j++) {
        int r = k->reads.items[j];
        while (g->nodes.items[r].op == IR_RESHAPE) r = g->nodes.items[r].in[0];
        if (r == n) return true;
    }
    return false;
}

/* A 2-process graph of three dense layers 64 -> 512 -> 512 -> 8 (ReLU between), the
 * sum over the batch axis of its output's squares per process: the value the tests'
 * losses are made of. Its gradients fill three buckets (w3's, w2's 1 MiB, w1's). */
static int three_layers_sharded(IrGraph *g) {
    g->procs = 2;
    int x = input(g, SHAPE(Bd(), C(64)), IR_F32);
    int w1 = param(g, "w1", SHAPE(C(64), C(512))), w2 = param(g, "w2", SHAPE(C(512), C(512)));
    int w3 = param(g, "w3", SHAPE(C(512), C(8)));
    int h1 = ir_unary(g, IR_RELU, ir_matmul(g, x, w1, false, false, NOSPAN), NOSPAN);
    int h2 = ir_unary(g, IR_RELU, ir_matmul(g, h1, w2, false, false, NOSPAN), NOSPAN);
    int y = ir_matmul(g, h2, w3, false, false, NOSPAN);
    return ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, y, y, NOSPAN), 3, NOSPAN);
}

/* Sharded over 2 processes: the parameter gradients are all-reduced in buckets of
 * at most AD_BUCKET_BYTES in the order the backward pass makes them (w3's, then
 * w2's 1 MiB alone, then w1's), each started as soon as its gradient exists and
 * waited for just before the first kernel that reads its sums. */
static void test_allreduce_buckets_overlap(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    g->loss = ir_reshape(g, three_layers_sharded(g), (IrShape){0}, NOSPAN);
    g->optim = (IrOptim){.kind = OPT_SGD, .lr = 0.01};
    ad_differentiate(g);
    int64_t sizes[3], count = 0;
    for (int n = 0; n < g->nodes.len; n++)
        if (g->nodes.items[n].op == IR_ALLREDUCE && count < 3) sizes[count++] = g->nodes.items[n].shape.d[0].c;
    assert_int_equal(count, 3);
    assert_int_equal(sizes[0], 512 * 8);
    assert_int_equal(sizes[1], 512 * 512);
    assert_int_equal(sizes[2], 64 * 512);

    KernelPlan *p = plan(&a, g);
    assert_int_equal(count_kind(p, K_COLLECTIVE), 3);
    assert_int_equal(count_kind(p, K_COLLECTIVE_WAIT), 3);
    int last_sgemm = -1, first_start = -1;
    for (int i = 0; i < p->kernels.len; i++) {
        const Kernel *k = &p->kernels.items[i];
        if (k->kind == K_SGEMM) last_sgemm = i;
        if (k->kind != K_COLLECTIVE) continue;
        if (first_start < 0) first_start = i;
        int wait = -1;
        for (int j = i + 1; j < p->kernels.len && wait < 0; j++) {
            const Kernel *c = &p->kernels.items[j];
            if (c->kind == K_COLLECTIVE_WAIT && c->root == k->root) wait = j;
            else assert_false(kernel_reads(g, c, k->root)); /* nothing reads the sums before the wait */
        }
        assert_true(wait > i);
        assert_true(wait + 1 < p->kernels.len && kernel_reads(g, &p->kernels.items[wait + 1], k->root));
    }
    /* w3's bucket starts while the backward pass still has products to run */
    assert_true(first_start >= 0 && first_start < last_sgemm);
    arena_free(&a);
}

/* Sharded, with a mean loss (its sum over the processes, divided): the kernel that
 * divides reads the loss's sums only to make the loss, so it and the loss's wait
 * run after every update, not in the forward pass; and the updates follow their
 * buckets in the order the buckets' all-reduces started, each bucket's updates
 * before the wait of any bucket started later. */
static void test_updates_in_bucket_order_loss_last(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int sums = ir_collective(g, IR_ALLREDUCE, three_layers_sharded(g), 0, 2, NOSPAN);
    int mean = ir_binary(g, IR_DIV, sums, ir_const(g, 128, SHAPE(C(1), C(1)), IR_F32, NOSPAN), NOSPAN);
    g->loss = ir_reshape(g, mean, (IrShape){0}, NOSPAN);
    g->optim = (IrOptim){.kind = OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    ad_differentiate(g);

    KernelPlan *p = plan(&a, g);
    assert_int_equal(count_kind(p, K_COLLECTIVE), 4);
    int last_update = -1, last_sgemm = -1, loss_wait = -1;
    for (int i = 0; i < p->kernels.len; i++) {
        const Kernel *k = &p->kernels.items[i];
        if (k->kind == K_UPDATE) last_update = i;
        if (k->kind == K_SGEMM) last_sgemm = i;
        if (k->kind == K_COLLECTIVE_WAIT && k->root == sums) loss_wait = i;
    }
    assert_true(loss_wait > last_update && last_update > last_sgemm);
    const Kernel *divide = kernel_with(p, mean);
    assert_non_null(divide);
    assert_true(divide == &p->kernels.items[p->kernels.len - 1]);

    /* each update after its bucket's wait; a bucket started earlier has all its
     * updates before the wait of a bucket started later */
    int updates = 0;
    for (int u = 0; u < p->kernels.len; u++) {
        const Kernel *k = &p->kernels.items[u];
        if (k->kind != K_UPDATE) continue;
        updates++;
        int start = -1, wait = -1;
        for (int j = 0; j < p->kernels.len; j++) {
            const Kernel *c = &p->kernels.items[j];
            if (c->kind == K_COLLECTIVE && c->root != sums && kernel_reads(g, k, c->root)) start = j;
            if (c->kind == K_COLLECTIVE_WAIT && c->root != sums && kernel_reads(g, k, c->root)) wait = j;
        }
        assert_true(start >= 0 && wait >= 0 && wait < u);
        for (int j = 0; j < p->kernels.len; j++) {
            const Kernel *later = &p->kernels.items[j];
            if (later->kind != K_COLLECTIVE_WAIT || later->root == sums) continue;
            int later_start = -1;
            for (int s = 0; s < p->kernels.len; s++)
                if (p->kernels.items[s].kind == K_COLLECTIVE && p->kernels.items[s].root == later->root) later_start = s;
            if (later_start > start) assert_true(u < j);
        }
    }
    assert_int_equal(updates, 3);
    arena_free(&a);
}

/* Sharded: a bucket's gradients are stored in place in it by the kernels that make
 * them (its concat is K_JOINED and runs no code), its all-reduce sums in place, and
 * each parameter's slice of the sums is read where it lies: nothing copies the
 * bucket (docs/mpi.md, Speed). */
static void test_allreduce_bucket_in_place(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    g->procs = 2;
    int x = input(g, SHAPE(Bd(), C(16)), IR_F32);
    int w1 = param(g, "w1", SHAPE(C(16), C(8))), b1 = param(g, "b1", SHAPE(C(8)));
    int w2 = param(g, "w2", SHAPE(C(8), C(4)));
    int h = ir_unary(g, IR_RELU, ir_binary(g, IR_ADD, ir_matmul(g, x, w1, false, false, NOSPAN), b1, NOSPAN),
                     NOSPAN);
    int y = ir_matmul(g, h, w2, false, false, NOSPAN);
    g->loss = ir_reshape(g, ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, y, y, NOSPAN), 3, NOSPAN), (IrShape){0}, NOSPAN);
    g->optim = (IrOptim){.kind = OPT_SGD, .lr = 0.01};
    ad_differentiate(g);
    KernelPlan *p = plan(&a, g);
    StrBuf out = {0};
    kernel_plan_print(p, &out);
    printf("%s", out.data);
    sb_free(&out);
    assert_int_equal(count_kind(p, K_JOINED), 1);
    int sums = -1, bucket = -1, slices = 0;
    for (int i = 0; i < p->kernels.len; i++) {
        const Kernel *k = &p->kernels.items[i];
        if (k->kind == K_JOINED) bucket = k->root;
        if (k->kind == K_COLLECTIVE) sums = k->root;
        if (k->kind == K_JOINED || k->kind == K_COLLECTIVE || k->kind == K_COLLECTIVE_WAIT) continue;
        for (int j = 0; j < k->nodes.len; j++) { /* no kernel joins or slices a bucket */
            IrOp op = g->nodes.items[k->nodes.items[j]].op;
            assert_true(op != IR_CONCAT && op != IR_SLICE);
        }
    }
    assert_true(sums >= 0 && g->nodes.items[sums].in[0] == bucket);
    /* the sums are the bucket's memory */
    assert_int_equal(p->buf[sums].kind, KB_VIEW);
    assert_int_equal(p->buf[sums].of, bucket);
    assert_int_equal(p->buf[bucket].kind, KB_WORK);
    int64_t at = ksize_eval(p->buf[bucket].offset, 8), bytes = 4 * g->nodes.items[bucket].shape.d[0].c;
    /* each gradient, and each slice of the sums, lies inside the bucket at its offset there */
    for (int n = 0; n < g->nodes.len; n++) {
        const IrNode *x = &g->nodes.items[n];
        if (x->op == IR_SLICE && x->in[0] == sums) {
            slices++;
            assert_int_equal(p->buf[n].kind, KB_WORK);
            assert_int_equal(ksize_eval(p->buf[n].offset, 8), at + 4 * x->start);
        }
        if (x->op == IR_CONCAT && n == bucket) {
            int part = x->in[1];
            while (g->nodes.items[part].op == IR_RESHAPE) part = g->nodes.items[part].in[0];
            int64_t part_bytes = 4 * ir_shape_numel(&g->nodes.items[part].shape, 0);
            assert_int_equal(p->buf[part].kind, KB_WORK);
            assert_int_equal(ksize_eval(p->buf[part].offset, 8), at + bytes - part_bytes);
        }
    }
    assert_int_equal(slices, 3);
    arena_free(&a);
}

/* Sharded: an all-reduce whose incoming gradient is the same on every process (the
 * seed of a loss summed over the processes, a constant) passes back g + g (2
 * processes) with no exchange; the parameter's gradient is still all-reduced. */
static void test_allreduce_of_a_constant_gradient_is_a_sum(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    g->procs = 2;
    int x = input(g, SHAPE(Bd(), C(4)), IR_F32);
    int w = param(g, "w", SHAPE(C(4)));
    int part = ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, x, w, NOSPAN), 3, NOSPAN);
    int total = ir_collective(g, IR_ALLREDUCE, part, 0, 2, NOSPAN);
    g->loss = ir_reshape(g, total, (IrShape){0}, NOSPAN);
    g->optim = (IrOptim){.kind = OPT_SGD, .lr = 0.01};
    int forward = g->nodes.len;
    ad_differentiate(g);
    int allreduces = 0, doubled = 0;
    for (int n = forward; n < g->nodes.len; n++) {
        const IrNode *y = &g->nodes.items[n];
        allreduces += y->op == IR_ALLREDUCE;
        doubled += y->op == IR_ADD && y->in[0] == y->in[1];
    }
    assert_int_equal(allreduces, 1); /* w's bucket only */
    assert_int_equal(doubled, 1);
    arena_free(&a);
}

/* An all-reduce sums in place only when nothing reads its values afterwards: not when a
 * report (read after the step) is the partial sum it started from. */
static void test_allreduce_in_place_only_when_alone(void **state) {
    (void)state;
    for (int reported = 0; reported < 2; reported++) {
        Arena a = {0};
        IrGraph *g = ir_graph_new(&a, "t");
        g->procs = 2;
        int x = input(g, SHAPE(Bd(), C(4)), IR_F32);
        int w = param(g, "w", SHAPE(C(4)));
        int part = ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, x, w, NOSPAN), 3, NOSPAN);
        int total = ir_collective(g, IR_ALLREDUCE, part, 0, 2, NOSPAN);
        g->loss = ir_reshape(g, total, (IrShape){0}, NOSPAN);
        if (reported) vec_push(g->arena, &g->reports, ((IrReport){.name = "part", .node = part}));
        KernelPlan *p = plan(&a, g);
        assert_int_equal(p->buf[total].kind, reported ? KB_WORK : KB_VIEW);
        arena_free(&a);
    }
}

/* A convolution's forward and weight gradient read its image and make the columns image by
 * image (K_CONV, no im2col), at any stride; so does its input gradient (a fold of W^T @ dY). */
static void test_convolution_columns(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, SHAPE(Bd(), C(1), C(6), C(5)), IR_F32);
    int w1 = param(g, "w1", SHAPE(C(4), C(1), C(3), C(3)));
    int w2 = param(g, "w2", SHAPE(C(2), C(4), C(3), C(3)));
    int w3 = param(g, "w3", SHAPE(C(2), C(1), C(3), C(3)));
    int cols1 = g->nodes.len;
    int h = ir_unary(g, IR_RELU, lower_conv2d(g, x, w1, 1, 1, 1, NOSPAN), NOSPAN);
    int y2 = lower_conv2d(g, h, w2, 1, 1, 1, NOSPAN);
    int y3 = lower_conv2d(g, x, w3, 2, 1, 1, NOSPAN);
    int loss = ir_binary(g, IR_ADD, ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, y2, y2, NOSPAN), 0xfu, NOSPAN),
                         ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, y3, y3, NOSPAN), 0xfu, NOSPAN), NOSPAN);
    g->loss = ir_reshape(g, loss, (IrShape){0}, NOSPAN);
    g->optim = (IrOptim){.kind = OPT_SGD, .lr = 0.1};
    assert_int_equal(g->nodes.items[cols1].op, IR_UNFOLD);
    ad_differentiate(g);
    KernelPlan *p = plan(&a, g);
    StrBuf out = {0};
    kernel_plan_print(p, &out);
    printf("%s", out.data);
    assert_int_equal(count_kind(p, K_CONV), 7);   /* each conv: forward, weight gradient; conv 2's
                                                   * input gradient (h needs one) */
    assert_int_equal(count_kind(p, K_IM2COL), 0);
    assert_int_equal(count_kind(p, K_SGEMM), 0);
    assert_int_equal(count_kind(p, K_FOLD), 0);
    assert_null(kernel_with(p, cols1));
    int read_x = 0;
    for (int i = 0; i < p->kernels.len; i++) {
        const Kernel *k = &p->kernels.items[i];
        for (int j = 0; j < k->reads.len; j++) read_x += k->kind == K_CONV && k->reads.items[j] == x;
    }
    assert_int_equal(read_x, 4); /* convs 1 and 3 */
    sb_free(&out);
    arena_free(&a);
}

/* Buffers whose last reader has run are reused; sizes scale with B. */
static void test_buffer_reuse(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, SHAPE(Bd(), C(16)), IR_F32);
    int w = param(g, "w", SHAPE(C(16), C(16)));
    int h = x;
    for (int i = 0; i < 6; i++) h = ir_matmul(g, h, w, false, false, NOSPAN);
    g->loss = ir_reshape(g, ir_reduce(g, IR_SUM, h, 3, NOSPAN), (IrShape){0}, NOSPAN);
    KernelPlan *p = plan(&a, g);
    /* 6 products of [B,16] in a chain need only two live buffers at a time. */
    assert_int_equal(count_kind(p, K_SGEMM), 6);
    assert_true(kernel_plan_workspace(p, 100) <= 2 * 100 * 16 * 4 + 64 * 3);
    assert_true(kernel_plan_workspace(p, 200) > kernel_plan_workspace(p, 100));
    arena_free(&a);
}

/* Bad graphs are reported, not crashed on. */
static void test_rejects_bad_graph(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    input(g, SHAPE(Bd(), C(4)), IR_F32);
    g->loss = 7;
    StrBuf why = {0};
    assert_null(fuse_plan(&a, g, &why));
    assert_non_null(strstr(why.data, "loss"));
    sb_free(&why);
    arena_free(&a);
}

/* A refusal names the .rl line its node came from (lowering refuses a shape
 * with three axes of size B first; a graph built by hand reaches the fuser). */
static void test_refusal_names_its_source(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    SrcFile file = {.path = "cube.rl", .text = "", .len = 0};
    Span at = {.file = &file, .line = 11, .col = 9};
    int x = input(g, SHAPE(Bd(), C(1), C(1)), IR_F32);
    int cube = ir_broadcast(g, x, SHAPE(Bd(), Bd(), Bd()), at);
    g->loss = ir_reshape(g, ir_reduce(g, IR_SUM, cube, 7, NOSPAN), (IrShape){0}, NOSPAN);
    StrBuf why = {0};
    assert_null(fuse_plan(&a, g, &why));
    assert_non_null(strstr(why.data, "(broadcast, from cube.rl:11:9): size grows faster than B^2"));
    sb_free(&why);
    arena_free(&a);
}

static int group_of(const KernelPlan *p, int root) {
    for (int i = 0; i < p->kernels.len; i++) {
        if (p->kernels.items[i].root != root) continue;
        for (int j = 0; j < p->row_groups.len; j++)
            if (i >= p->row_groups.items[j].first && i < p->row_groups.items[j].first + p->row_groups.items[j].count)
                return j;
        return -1;
    }
    return -2;
}

/* A row softmax's kernels (max, exp, sum, divide) run as one row group; a kernel that
 * reads a member's rows shifted along axis 0 does not join it, and every buffer the
 * group reads or writes stays alive (its own slot) until the group has run. */
static void test_row_groups(void **state) {
    (void)state;
    Arena a = {0};
    IrGraph *g = ir_graph_new(&a, "t");
    int x = input(g, SHAPE(C(6), C(8)), IR_F32);
    int e = ir_unary(g, IR_EXP, ir_binary(g, IR_SUB, x, ir_reduce(g, IR_RMAX, x, 2, NOSPAN), NOSPAN), NOSPAN);
    int sm = ir_binary(g, IR_DIV, e, ir_reduce(g, IR_SUM, e, 2, NOSPAN), NOSPAN);
    int rot = ir_concat(g, ir_slice(g, sm, 0, 1, 6, NOSPAN), ir_slice(g, sm, 0, 0, 1, NOSPAN), 0, NOSPAN);
    int shifted = ir_unary(g, IR_EXP, ir_binary(g, IR_ADD, rot, e, NOSPAN), NOSPAN);
    g->loss = ir_reshape(g, ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, shifted, shifted, NOSPAN), 3, NOSPAN),
                         (IrShape){0}, NOSPAN);
    /* a second reader: `shifted` is stored by a loop kernel over the same 6 rows */
    ir_add_report(g, "max", ir_reshape(g, ir_reduce(g, IR_RMAX, shifted, 3, NOSPAN), (IrShape){0}, NOSPAN), NOSPAN);
    KernelPlan *p = plan(&a, g);
    StrBuf out = {0};
    kernel_plan_print(p, &out);
    printf("%s", out.data);
    assert_int_equal(kernel_with(p, shifted)->root, shifted);
    assert_int_equal(kernel_with(p, shifted)->kind, K_LOOP);
    int gs = group_of(p, sm);
    assert_true(gs >= 0);
    assert_int_equal(group_of(p, e), gs);
    assert_int_equal(p->row_groups.items[gs].count, 4); /* max, exp, sum, divide */
    assert_true(group_of(p, shifted) != gs);
    assert_non_null(strstr(out.data, "rows k0-k3"));
    /* no two buffers of the group share memory */
    const KRowGroup *rg = &p->row_groups.items[gs];
    for (int i = rg->first; i < rg->first + rg->count; i++)
        for (int j = rg->first; j < i; j++) {
            KBuf bi = p->buf[p->kernels.items[i].root], bj = p->buf[p->kernels.items[j].root];
            assert_true(bi.offset.c[0] + bi.size.c[0] <= bj.offset.c[0] ||
                        bj.offset.c[0] + bj.size.c[0] <= bi.offset.c[0]);
        }
    sb_free(&out);
    arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_bias_relu),
        cmocka_unit_test(test_light_op_recomputed),
        cmocka_unit_test(test_chain_into_reduction),
        cmocka_unit_test(test_kept_major_reduction),
        cmocka_unit_test(test_training_step_counts),
        cmocka_unit_test(test_convolution_columns),
        cmocka_unit_test(test_buffer_reuse),
        cmocka_unit_test(test_allreduce_buckets_overlap),
        cmocka_unit_test(test_updates_in_bucket_order_loss_last),
        cmocka_unit_test(test_allreduce_bucket_in_place),
        cmocka_unit_test(test_allreduce_in_place_only_when_alone),
        cmocka_unit_test(test_allreduce_of_a_constant_gradient_is_a_sum),
        cmocka_unit_test(test_rejects_bad_graph),
        cmocka_unit_test(test_refusal_names_its_source),
        cmocka_unit_test(test_row_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
