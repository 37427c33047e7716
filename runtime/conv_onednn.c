/* conv_onednn.c — the convolutions of image.c (rt_conv, rt_conv_weight_grad,
 * rt_conv_input_grad) on oneDNN's convolution primitives, where rt_gemm runs on oneDNN.
 *
 * Why: one thread, SimCLR's conv 2 (16 -> 32 channels, 14x14, 512 views), oneDNN's direct
 * AVX-512 kernels run each of the three products at 180-200 GFLOP/s on its blocked layouts
 * (nChw16c), where the columns and rt_gemm reach 55-107 (docs/performance.md). On rlc's plain
 * layouts the same primitives fall back to oneDNN's own im2col + sgemm (`gemm:jit`, 17-55
 * GFLOP/s) or, for the output layout [o, n, oh, ow], to its reference loops: so each block of
 * images is reordered into the layouts the primitive picks and back, in buffers that stay in
 * the cache between the reorder and the convolution.
 *
 * Determinism: the batch is cut into blocks of RT_CONV_IMAGES images whatever the thread
 * count, each block computed by one primitive call on one thread (a tail block by a primitive
 * of its own size). The forward and the input gradient write each image's output from its
 * block alone; the weight gradient keeps one partial sum per block and adds them in block
 * order. So every result is the same bits at every thread count.
 *
 * Primitives (with their reorders) are created once per shape and cached for the process;
 * each call brings its own scratchpad, stream and memory objects, so the pool's threads can
 * run the same primitive at once (oneDNN's rule for concurrent execution). */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_onednn.h"
#include "rlrt.h"

/* oneDNN's entry points, from the library rt_gemm loaded (it is opened, not linked). */
static struct {
    __typeof__(dnnl_engine_create) *engine_create;
    __typeof__(dnnl_stream_create) *stream_create;
    __typeof__(dnnl_stream_destroy) *stream_destroy;
    __typeof__(dnnl_memory_desc_init_by_tag) *md_by_tag;
    __typeof__(dnnl_memory_desc_init_by_strides) *md_by_strides;
    __typeof__(dnnl_memory_desc_get_size) *md_size;
    __typeof__(dnnl_memory_desc_equal) *md_equal;
    __typeof__(dnnl_dilated_convolution_forward_desc_init) *forward_desc;
    __typeof__(dnnl_dilated_convolution_backward_data_desc_init) *backward_data_desc;
    __typeof__(dnnl_dilated_convolution_backward_weights_desc_init) *backward_weights_desc;
    __typeof__(dnnl_primitive_attr_create) *attr_create;
    __typeof__(dnnl_primitive_attr_destroy) *attr_destroy;
    __typeof__(dnnl_primitive_attr_set_scratchpad_mode) *attr_scratchpad;
    __typeof__(dnnl_primitive_desc_create) *pd_create;
    __typeof__(dnnl_reorder_primitive_desc_create) *reorder_pd_create;
    __typeof__(dnnl_primitive_desc_query_md) *pd_md;
    __typeof__(dnnl_primitive_desc_destroy) *pd_destroy;
    __typeof__(dnnl_primitive_create) *primitive_create;
    __typeof__(dnnl_primitive_execute) *execute;
    __typeof__(dnnl_memory_create) *memory_create;
    __typeof__(dnnl_memory_destroy) *memory_destroy;
} dn;
static dnnl_engine_t engine;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

#define ENTRY(field, name) ((dn.field = (__typeof__(dn.field))rt_onednn_symbol(name)) != NULL)

static void load_entries(void) {
    bool all = ENTRY(engine_create, "dnnl_engine_create") && ENTRY(stream_create, "dnnl_stream_create") &&
               ENTRY(stream_destroy, "dnnl_stream_destroy") && ENTRY(md_by_tag, "dnnl_memory_desc_init_by_tag") &&
               ENTRY(md_by_strides, "dnnl_memory_desc_init_by_strides") &&
               ENTRY(md_size, "dnnl_memory_desc_get_size") && ENTRY(md_equal, "dnnl_memory_desc_equal") &&
               ENTRY(forward_desc, "dnnl_dilated_convolution_forward_desc_init") &&
               ENTRY(backward_data_desc, "dnnl_dilated_convolution_backward_data_desc_init") &&
               ENTRY(backward_weights_desc, "dnnl_dilated_convolution_backward_weights_desc_init") &&
               ENTRY(attr_create, "dnnl_primitive_attr_create") &&
               ENTRY(attr_destroy, "dnnl_primitive_attr_destroy") &&
               ENTRY(attr_scratchpad, "dnnl_primitive_attr_set_scratchpad_mode") &&
               ENTRY(pd_create, "dnnl_primitive_desc_create") &&
               ENTRY(reorder_pd_create, "dnnl_reorder_primitive_desc_create") &&
               ENTRY(pd_md, "dnnl_primitive_desc_query_md") && ENTRY(pd_destroy, "dnnl_primitive_desc_destroy") &&
               ENTRY(primitive_create, "dnnl_primitive_create") &&
               ENTRY(memory_create, "dnnl_memory_create") && ENTRY(memory_destroy, "dnnl_memory_destroy");
    /* Global, like runtime/gemm.c's: a preloaded one (bench/sgemm_shim.c) stands in front of it. */
    dn.execute = (__typeof__(dn.execute))dlsym(RTLD_DEFAULT, "dnnl_primitive_execute");
    all = all && dn.execute;
    if (!all || dn.engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
}

/* The three operands of a convolution, in rlc's layouts: x or dx [n, c, h, w] (nchw), the
 * weights or their gradient [o, c, kh, kw] (oihw), y or dy [o, n, oh, ow] of the whole batch
 * (strides oh*ow, n*oh*ow, ow, 1). Each kind reads two and writes the third. */
enum { OP_IMAGE, OP_WEIGHTS, OP_OUT, NOPS };

static int written_by(rt_conv_kind kind) {
    return kind == RT_CONV_FORWARD ? OP_OUT : kind == RT_CONV_WEIGHT_GRAD ? OP_WEIGHTS : OP_IMAGE;
}

/* The convolution's argument for each operand. */
static int conv_arg(rt_conv_kind kind, int op) {
    switch (op) {
    case OP_IMAGE: return kind == RT_CONV_INPUT_GRAD ? DNNL_ARG_DIFF_SRC : DNNL_ARG_SRC;
    case OP_WEIGHTS: return kind == RT_CONV_WEIGHT_GRAD ? DNNL_ARG_DIFF_WEIGHTS : DNNL_ARG_WEIGHTS;
    default: return kind == RT_CONV_FORWARD ? DNNL_ARG_DST : DNNL_ARG_DIFF_DST;
    }
}

static dnnl_query_t conv_query(rt_conv_kind kind, int op) {
    switch (op) {
    case OP_IMAGE: return kind == RT_CONV_INPUT_GRAD ? dnnl_query_diff_src_md : dnnl_query_src_md;
    case OP_WEIGHTS: return kind == RT_CONV_WEIGHT_GRAD ? dnnl_query_diff_weights_md : dnnl_query_weights_md;
    default: return kind == RT_CONV_FORWARD ? dnnl_query_dst_md : dnnl_query_diff_dst_md;
    }
}

/* One block size's primitives: the convolution on the layouts it picked, and per operand
 * the reorder between rlc's layout and that one (NULL where they are the same). */
typedef struct Part {
    int64_t images;
    dnnl_primitive_t conv, reorder[NOPS];
    dnnl_memory_desc_t user[NOPS], inner[NOPS];
    size_t inner_bytes[NOPS], scratch_bytes;
} Part;

typedef struct Plan {
    struct Plan *next;
    rt_conv_kind kind;
    rt_window w; /* w.n: the whole batch, whose size the strides of y and dy depend on */
    int64_t o;
    bool usable; /* false: oneDNN refused a primitive, and image.c computes it from columns */
    Part full, tail;
} Plan;

/* Images per primitive call, whatever the thread count (the determinism above). 32 keeps
 * the measured speed (196 GFLOP/s for conv 2 at 32 images, 196 at 256) and gives the batch
 * of 64 two blocks for two threads. */
enum { BLOCK_IMAGES = 32 };

static Plan *plans;
static pthread_mutex_t plans_lock = PTHREAD_MUTEX_INITIALIZER;

/* Attributes that leave the scratchpad to the caller (dnnl_scratchpad_mode_user). */
static bool user_scratch_attr(dnnl_primitive_attr_t *attr) {
    if (dn.attr_create(attr) != dnnl_success) return false;
    if (dn.attr_scratchpad(*attr, dnnl_scratchpad_mode_user) == dnnl_success) return true;
    dn.attr_destroy(*attr);
    return false;
}

static size_t scratch_of(const_dnnl_primitive_desc_t pd) {
    const dnnl_memory_desc_t *md = dn.pd_md(pd, dnnl_query_scratchpad_md, 0);
    return md ? dn.md_size(md) : 0;
}

static bool make_reorder(dnnl_primitive_t *prim, size_t *scratch, const dnnl_memory_desc_t *from,
                         const dnnl_memory_desc_t *to) {
    *prim = NULL;
    if (dn.md_equal(from, to)) return true;
    dnnl_primitive_attr_t attr;
    if (!user_scratch_attr(&attr)) return false;
    dnnl_primitive_desc_t pd = NULL;
    bool ok = dn.reorder_pd_create(&pd, from, engine, to, engine, attr) == dnnl_success &&
              dn.primitive_create(prim, pd) == dnnl_success;
    if (ok && scratch_of(pd) > *scratch) *scratch = scratch_of(pd);
    if (pd) dn.pd_destroy(pd);
    dn.attr_destroy(attr);
    return ok;
}

/* The primitive descriptor of kind for p->images images of window w. */
static dnnl_primitive_desc_t conv_desc(rt_conv_kind kind, const Part *p, const rt_window *w, int64_t o) {
    dnnl_dims_t image = {p->images, w->c, w->h, w->w}, weights = {o, w->c, w->kh, w->kw};
    dnnl_dims_t out = {p->images, o, w->oh, w->ow};
    dnnl_dims_t stride = {w->stride, w->stride}, dilate = {w->dil - 1, w->dil - 1}, pad_l = {w->pad, w->pad};
    /* the padding past the last window (negative where the last pixels are in no window) */
    dnnl_dims_t pad_r = {(w->oh - 1) * w->stride + (w->kh - 1) * w->dil + 1 - w->h - w->pad,
                         (w->ow - 1) * w->stride + (w->kw - 1) * w->dil + 1 - w->w - w->pad};
    dnnl_memory_desc_t image_any, weights_any, out_any;
    dnnl_convolution_desc_t forward, backward;
    dnnl_primitive_attr_t attr;
    if (dn.md_by_tag(&image_any, 4, image, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dn.md_by_tag(&weights_any, 4, weights, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dn.md_by_tag(&out_any, 4, out, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dn.forward_desc(&forward, dnnl_forward_training, dnnl_convolution_direct, &image_any, &weights_any, NULL,
                        &out_any, stride, dilate, pad_l, pad_r) != dnnl_success ||
        !user_scratch_attr(&attr))
        return NULL;
    /* The forward's descriptor is the backward primitives' hint. */
    dnnl_primitive_desc_t hint = NULL, pd = NULL;
    bool ok = dn.pd_create(&hint, &forward, attr, engine, NULL) == dnnl_success;
    if (ok && kind == RT_CONV_INPUT_GRAD)
        ok = dn.backward_data_desc(&backward, dnnl_convolution_direct, &image_any, &weights_any, &out_any, stride,
                                   dilate, pad_l, pad_r) == dnnl_success;
    else if (ok && kind == RT_CONV_WEIGHT_GRAD)
        ok = dn.backward_weights_desc(&backward, dnnl_convolution_direct, &image_any, &weights_any, NULL,
                                      &out_any, stride, dilate, pad_l, pad_r) == dnnl_success;
    if (ok && kind != RT_CONV_FORWARD) ok = dn.pd_create(&pd, &backward, attr, engine, hint) == dnnl_success;
    dn.attr_destroy(attr);
    if (kind == RT_CONV_FORWARD) return ok ? hint : NULL;
    if (hint) dn.pd_destroy(hint);
    return ok ? pd : NULL;
}

static bool make_part(Part *p, rt_conv_kind kind, const rt_window *w, int64_t o) {
    dnnl_dims_t image = {p->images, w->c, w->h, w->w}, weights = {o, w->c, w->kh, w->kw};
    dnnl_dims_t out = {p->images, o, w->oh, w->ow}, out_strides = {w->oh * w->ow, w->n * w->oh * w->ow, w->ow, 1};
    if (dn.md_by_tag(&p->user[OP_IMAGE], 4, image, dnnl_f32, dnnl_nchw) != dnnl_success ||
        dn.md_by_tag(&p->user[OP_WEIGHTS], 4, weights, dnnl_f32, dnnl_oihw) != dnnl_success ||
        dn.md_by_strides(&p->user[OP_OUT], 4, out, dnnl_f32, out_strides) != dnnl_success)
        return false;
    dnnl_primitive_desc_t pd = conv_desc(kind, p, w, o);
    if (!pd) return false;
    for (int op = 0; op < NOPS; op++) {
        p->inner[op] = *dn.pd_md(pd, conv_query(kind, op), 0);
        p->inner_bytes[op] = dn.md_size(&p->inner[op]);
    }
    p->scratch_bytes = scratch_of(pd);
    bool ok = dn.primitive_create(&p->conv, pd) == dnnl_success;
    dn.pd_destroy(pd);
    for (int op = 0; ok && op < NOPS; op++)
        ok = op == written_by(kind)
                 ? make_reorder(&p->reorder[op], &p->scratch_bytes, &p->inner[op], &p->user[op])
                 : make_reorder(&p->reorder[op], &p->scratch_bytes, &p->user[op], &p->inner[op]);
    return ok;
}

static bool same_window(const rt_window *a, const rt_window *b) { return memcmp(a, b, sizeof *a) == 0; }

/* The cached plan for kind on window w with o output channels, made on first use. */
static const Plan *plan_for(rt_conv_kind kind, const rt_window *w, int64_t o) {
    pthread_mutex_lock(&plans_lock);
    Plan *p = plans;
    while (p && !(p->kind == kind && p->o == o && same_window(&p->w, w))) p = p->next;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&plans_lock);
            return NULL;
        }
        p->kind = kind, p->w = *w, p->o = o;
        p->full.images = w->n < BLOCK_IMAGES ? w->n : BLOCK_IMAGES;
        p->tail.images = w->n % p->full.images;
        p->usable = make_part(&p->full, kind, w, o) && (!p->tail.images || make_part(&p->tail, kind, w, o));
        p->next = plans;
        plans = p;
    }
    pthread_mutex_unlock(&plans_lock);
    return p->usable ? p : NULL;
}

/* ------------------------------------------------------------------------ running */

typedef struct Call {
    const Plan *plan;
    float *out;          /* the written operand (the weight gradient: one partial per block) */
    const float *a, *b;  /* as image.c's ConvCols: the weights or dy, then x or dy */
} Call;

static void fail(dnnl_status_t s) {
    fprintf(stderr, "rlc: a oneDNN convolution failed (status %d); RLC_GEMM=openblas avoids oneDNN\n", (int)s);
    exit(1);
}

static void execute(dnnl_primitive_t prim, dnnl_stream_t stream, int nargs, const int *arg, const dnnl_memory_desc_t **md,
                    void *const *data) {
    dnnl_exec_arg_t args[NOPS + 1];
    dnnl_status_t s = dnnl_success;
    int made = 0;
    for (; made < nargs && s == dnnl_success; made++) {
        args[made].arg = arg[made];
        s = dn.memory_create(&args[made].memory, md[made], engine, data[made]);
        if (s != dnnl_success) break;
    }
    if (s == dnnl_success) s = dn.execute(prim, stream, nargs, args);
    for (int i = 0; i < made; i++) dn.memory_destroy(args[i].memory);
    if (s != dnnl_success) fail(s);
}

/* Buffers kept between calls: a block's reordered operands are hundreds of KB, which malloc
 * would map and unmap on every call (page faults were a fifth of the time). A call takes one
 * buffer per operand from this list and gives them back; they live as long as the process. */
typedef struct Buffer {
    struct Buffer *next;
    size_t bytes;
    void *data;
} Buffer;

static Buffer *idle_buffers;
static pthread_mutex_t buffers_lock = PTHREAD_MUTEX_INITIALIZER;

static void out_of_memory(size_t bytes) {
    fprintf(stderr, "rlc: out of memory: %zu bytes for a convolution's blocked operands\n", bytes);
    exit(1);
}

/* A buffer of at least bytes (the first idle one, grown where it is smaller). */
static Buffer *take_buffer(size_t bytes) {
    pthread_mutex_lock(&buffers_lock);
    Buffer *b = idle_buffers;
    if (b) idle_buffers = b->next;
    pthread_mutex_unlock(&buffers_lock);
    if (!b && !(b = calloc(1, sizeof *b))) out_of_memory(sizeof *b);
    if (b->bytes < bytes) {
        free(b->data);
        if (!(b->data = malloc(bytes))) out_of_memory(bytes);
        b->bytes = bytes;
    }
    return b;
}

static void give_buffer(Buffer *b) {
    pthread_mutex_lock(&buffers_lock);
    b->next = idle_buffers;
    idle_buffers = b;
    pthread_mutex_unlock(&buffers_lock);
}

static size_t larger(size_t a, size_t b) { return a > b ? a : b; }

/* A reorder of one operand, from -> to, with the call's scratchpad. */
static void reorder(dnnl_primitive_t prim, dnnl_stream_t stream, const dnnl_memory_desc_t *from_md, void *from,
                    const dnnl_memory_desc_t *to_md, void *to, const dnnl_memory_desc_t *scratch_md,
                    void *scratch) {
    const dnnl_memory_desc_t *md[3] = {from_md, to_md, scratch_md};
    void *data[3] = {from, to, scratch};
    static const int args[3] = {DNNL_ARG_FROM, DNNL_ARG_TO, DNNL_ARG_SCRATCHPAD};
    execute(prim, stream, 3, args, md, data);
}

/* The operands of block blk in rlc's layouts: where each lies in the call's tensors. */
static void block_operands(const Call *c, int64_t blk, void **user) {
    const Plan *plan = c->plan;
    const rt_window *w = &plan->w;
    int64_t n0 = blk * plan->full.images, image = n0 * w->c * w->h * w->w, out = n0 * w->oh * w->ow;
    switch (plan->kind) {
    case RT_CONV_FORWARD:
        user[OP_WEIGHTS] = (void *)c->a, user[OP_IMAGE] = (void *)(c->b + image), user[OP_OUT] = c->out + out;
        break;
    case RT_CONV_WEIGHT_GRAD:
        user[OP_OUT] = (void *)(c->a + out), user[OP_IMAGE] = (void *)(c->b + image);
        user[OP_WEIGHTS] = c->out + blk * plan->o * w->c * w->kh * w->kw;
        break;
    case RT_CONV_INPUT_GRAD:
        user[OP_WEIGHTS] = (void *)c->a, user[OP_OUT] = (void *)(c->b + out), user[OP_IMAGE] = c->out + image;
        break;
    }
}

/* Blocks [lo, hi) of images: per block, the read operands reordered into the primitive's
 * layouts, the convolution, and its result reordered into rlc's. */
static void conv_blocks(void *arg, int64_t lo, int64_t hi) {
    const Call *c = arg;
    const Plan *plan = c->plan;
    int written = written_by(plan->kind);
    size_t scratch_bytes = larger(plan->full.scratch_bytes, plan->tail.scratch_bytes);
    dnnl_memory_desc_t scratch_md;
    dnnl_dims_t scratch_dims = {(dnnl_dim_t)larger(scratch_bytes, 1)};
    dnnl_status_t s = dn.md_by_tag(&scratch_md, 1, scratch_dims, dnnl_u8, dnnl_a);
    if (s != dnnl_success) fail(s);
    Buffer *held[NOPS + 1];
    void *inner[NOPS];
    for (int op = 0; op < NOPS; op++) {
        held[op] = take_buffer(larger(plan->full.inner_bytes[op], plan->tail.inner_bytes[op]));
        inner[op] = held[op]->data;
    }
    held[NOPS] = take_buffer(scratch_bytes);
    void *scratch = held[NOPS]->data;
    dnnl_stream_t stream;
    s = dn.stream_create(&stream, engine, dnnl_stream_default_flags);
    if (s != dnnl_success) fail(s);
    rt_onednn_one_thread();
    for (int64_t blk = lo; blk < hi; blk++) {
        const Part *p = (blk + 1) * plan->full.images <= plan->w.n ? &plan->full : &plan->tail;
        void *user[NOPS], *data[NOPS + 1];
        const dnnl_memory_desc_t *md[NOPS + 1];
        int args[NOPS + 1];
        block_operands(c, blk, user);
        for (int op = 0; op < NOPS; op++) {
            data[op] = p->reorder[op] ? inner[op] : user[op];
            md[op] = &p->inner[op];
            args[op] = conv_arg(plan->kind, op);
            if (op != written && p->reorder[op])
                reorder(p->reorder[op], stream, &p->user[op], user[op], &p->inner[op], inner[op], &scratch_md,
                        scratch);
        }
        data[NOPS] = scratch, md[NOPS] = &scratch_md, args[NOPS] = DNNL_ARG_SCRATCHPAD;
        execute(p->conv, stream, NOPS + 1, args, md, data);
        if (p->reorder[written])
            reorder(p->reorder[written], stream, &p->inner[written], inner[written], &p->user[written],
                    user[written], &scratch_md, scratch);
    }
    dn.stream_destroy(stream);
    for (int op = 0; op <= NOPS; op++) give_buffer(held[op]);
}

bool rt_conv_onednn(rt_conv_kind kind, rt_pool *pool, float *out, const float *a, const float *b,
                    const rt_window *w, int64_t o) {
    /* Measured on SimCLR's conv 1 (one input channel, 16 out, 28x28): the forward 3.3-5.1 ms
     * against 2.1-2.4 on columns (its output, 16 channels of 28x28, is reordered back at
     * memory speed), the weight gradient a tie, the input gradient 12 GFLOP/s against 40.
     * With 16 channels and more oneDNN's kernels win (conv 2: docs/performance.md). */
    if (w->c < 16) return false;
    if (w->n <= 0 || o <= 0 || w->c <= 0) return false;
    pthread_once(&load_once, load_entries);
    if (!engine) return false;
    /* Before the plan: a primitive sizes its parallel work by the threads OpenMP offers
     * when it is created. */
    rt_onednn_one_thread();
    const Plan *plan = plan_for(kind, w, o);
    if (!plan) return false;
    int64_t blocks = (w->n + plan->full.images - 1) / plan->full.images, weights = o * w->c * w->kh * w->kw;
    Call c = {plan, out, a, b};
    Buffer *partials = NULL;
    if (kind == RT_CONV_WEIGHT_GRAD) {
        partials = take_buffer(sizeof(float) * (size_t)(blocks * weights));
        c.out = partials->data;
    }
    if (pool) rt_parallel_for(pool, blocks, conv_blocks, &c);
    else conv_blocks(&c, 0, blocks);
    if (kind == RT_CONV_WEIGHT_GRAD) {
        /* the blocks' partial sums, added in block order */
        memcpy(out, c.out, sizeof(float) * (size_t)weights);
        for (int64_t blk = 1; blk < blocks; blk++)
            for (int64_t i = 0; i < weights; i++) out[i] += c.out[blk * weights + i];
        give_buffer(partials);
    }
    return true;
}
