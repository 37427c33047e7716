/* gemm.c — the one-thread matrix product under rt_sgemm and the convolutions.
 *
 * oneDNN's sgemm runs it where the library can be loaded, OpenBLAS's otherwise. oneDNN
 * generates its kernels for the CPU it finds (AVX-512 where there is one), while OpenBLAS
 * 0.3.21 runs the kernels OPENBLAS_CORETYPE names or, unset, the ones it picks (and its
 * SSE3 fallback on CPUs it does not know). Measured on the 2-vCPU AMD EPYC (Zen 5) with
 * OPENBLAS_CORETYPE=Haswell, one thread, the training steps' shapes: oneDNN 175-220 GFLOP/s
 * where OpenBLAS's Haswell kernels reach 50-108 and its Cooperlake ones 72-209
 * (docs/performance.md). RLC_GEMM=openblas keeps OpenBLAS.
 *
 * The library is opened on the first product, not linked: its 40 MB and their relocations
 * cost every rlc start ~10 ms, and a compile-only run never needs it. Debian's oneDNN runs
 * its parallel regions on OpenMP; each thread that calls it is set to one OpenMP thread, so
 * a step runs exactly the pool's threads (rlrt.h, Thread policy).
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl_types.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlrt.h"

typedef int dnnl_sgemm_fn(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                          int64_t ldc);
typedef void omp_set_num_threads_fn(int);

static void *onednn_lib;
static dnnl_sgemm_fn *onednn_sgemm;
static omp_set_num_threads_fn *omp_set_threads;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static _Atomic bool loaded;
static _Thread_local bool omp_one_thread;

static void open_library(void) {
    const char *want = getenv("RLC_GEMM");
    if (want && strcmp(want, "openblas") == 0) return;
    if (want && *want && strcmp(want, "onednn") != 0)
        fprintf(stderr, "rlc: RLC_GEMM=%s is neither onednn nor openblas; using oneDNN\n", want);
    /* Global, so that a preloaded dnnl_sgemm (bench/sgemm_shim.c) stands in front of it. */
    void *lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
        fprintf(stderr, "rlc: cannot load oneDNN (%s); matrix products run on OpenBLAS\n", dlerror());
        return;
    }
    omp_set_threads = (omp_set_num_threads_fn *)dlsym(lib, "omp_set_num_threads");
    onednn_sgemm = (dnnl_sgemm_fn *)dlsym(RTLD_DEFAULT, "dnnl_sgemm");
    if (!omp_set_threads || !onednn_sgemm) {
        fprintf(stderr, "rlc: libdnnl.so.2 lacks dnnl_sgemm or OpenMP; matrix products run on OpenBLAS\n");
        onednn_sgemm = NULL;
        return;
    }
    onednn_lib = lib;
}

static void load_onednn(void) {
    open_library();
    loaded = true;
}

bool rt_gemm_loaded(void) { return loaded; }

void *rt_onednn_symbol(const char *name) {
    pthread_once(&load_once, load_onednn);
    return onednn_lib ? dlsym(onednn_lib, name) : NULL;
}

void rt_onednn_one_thread(void) {
    if (!omp_one_thread) {
        omp_set_threads(1);
        omp_one_thread = true;
    }
}

const char *rt_gemm_library(void) {
    pthread_once(&load_once, load_onednn);
    return onednn_sgemm ? "oneDNN" : "OpenBLAS";
}

void rt_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
             const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    pthread_once(&load_once, load_onednn);
    if (onednn_sgemm) {
        rt_onednn_one_thread();
        /* It fails only on arguments OpenBLAS would reject too (rt_sgemm's callers pass
         * checked shapes); a failure falls through so that C is never left unwritten. */
        if (onednn_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, 1.0f, A, lda, B, ldb, beta, C,
                         ldc) == 0)
            return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)M,
                (int)N, (int)K, 1.0f, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/* ------------------------------------------------------------ before the first product */

/* Opening oneDNN takes ~10 ms and its first sgemm ~40 ms more (it generates its gemm kernels
 * for this CPU, once for all shapes and transposes): 50 ms inside a training run's first
 * step, 1 ms a step of a 50-step run of the AE at batch 256 (3.5 ms a step after it). The
 * trainer calls rt_gemm_prepare before it loads the data, so that both happen on a thread
 * of their own meanwhile; a product that comes first waits in pthread_once and in oneDNN's
 * own once-only initialisation, so the order never matters. */
static pthread_mutex_t prepare_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t prepare_thread;
static bool prepare_running;

/* The first product goes to the library's own dnnl_sgemm, not to the global one that rt_gemm
 * calls: it is no product of a step, and bench/sgemm_shim.c, preloaded in front of the global
 * one, must not count it. OpenBLAS has no kernels to generate: opening is all it needs. */
static void *prepare_products(void *unused) {
    (void)unused;
    pthread_once(&load_once, load_onednn);
    dnnl_sgemm_fn *own = onednn_lib ? (dnnl_sgemm_fn *)dlsym(onednn_lib, "dnnl_sgemm") : NULL;
    if (!own) return NULL;
    enum { N = 16 };
    float a[N * N], b[N * N], c[N * N];
    for (int i = 0; i < N * N; i++) a[i] = b[i] = 1.0f;
    rt_onednn_one_thread();
    own('N', 'N', N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
    return NULL;
}

void rt_gemm_prepare(void) {
    pthread_mutex_lock(&prepare_lock);
    if (!prepare_running && !rt_gemm_loaded())
        prepare_running = pthread_create(&prepare_thread, NULL, prepare_products, NULL) == 0;
    pthread_mutex_unlock(&prepare_lock);
}

void rt_gemm_prepare_finish(void) {
    pthread_mutex_lock(&prepare_lock);
    if (prepare_running) pthread_join(prepare_thread, NULL);
    prepare_running = false;
    pthread_mutex_unlock(&prepare_lock);
}

/* ------------------------------------------------------------ batched products */

/* A batch of small products (the attention's [B, heads] products of T x T x D/heads) run
 * as a loop of sgemm calls pays each call's checks, dispatch and packing: the GPT step's
 * 512-product batches of 32 x 32 x 32 ran at 35-100 GFLOP/s that way, against 110-155 as
 * one call of oneDNN's matmul primitive over the batch (measured alone, one thread, the
 * step's three transposes; the same bits as the loop's products). The primitive is made
 * once per shape and strides, per thread (each thread has its own stream, the primitives
 * of its cache and their memory objects, whose data handles are set per call), so no lock
 * is taken; a thread's cache is released when the thread ends. */

typedef dnnl_status_t engine_create_fn(dnnl_engine_t *, dnnl_engine_kind_t, size_t);
typedef dnnl_status_t engine_destroy_fn(dnnl_engine_t);
typedef dnnl_status_t stream_create_fn(dnnl_stream_t *, dnnl_engine_t, unsigned);
typedef dnnl_status_t stream_destroy_fn(dnnl_stream_t);
typedef dnnl_status_t md_by_strides_fn(dnnl_memory_desc_t *, int, const dnnl_dims_t, dnnl_data_type_t,
                                       const dnnl_dims_t);
typedef dnnl_status_t matmul_desc_fn(dnnl_matmul_desc_t *, const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                     const dnnl_memory_desc_t *, const dnnl_memory_desc_t *);
typedef dnnl_status_t pd_create_fn(dnnl_primitive_desc_t *, const_dnnl_op_desc_t, const_dnnl_primitive_attr_t,
                                   dnnl_engine_t, const_dnnl_primitive_desc_t);
typedef dnnl_status_t pd_destroy_fn(dnnl_primitive_desc_t);
typedef dnnl_status_t primitive_create_fn(dnnl_primitive_t *, const_dnnl_primitive_desc_t);
typedef dnnl_status_t primitive_destroy_fn(dnnl_primitive_t);
typedef dnnl_status_t memory_create_fn(dnnl_memory_t *, const dnnl_memory_desc_t *, dnnl_engine_t, void *);
typedef dnnl_status_t memory_destroy_fn(dnnl_memory_t);
typedef dnnl_status_t memory_set_handle_fn(dnnl_memory_t, void *);
typedef dnnl_status_t execute_fn(const_dnnl_primitive_t, dnnl_stream_t, int, const dnnl_exec_arg_t *);

static struct {
    engine_create_fn *engine_create;
    engine_destroy_fn *engine_destroy;
    stream_create_fn *stream_create;
    stream_destroy_fn *stream_destroy;
    md_by_strides_fn *md_by_strides;
    matmul_desc_fn *matmul_desc;
    pd_create_fn *pd_create;
    pd_destroy_fn *pd_destroy;
    primitive_create_fn *primitive_create;
    primitive_destroy_fn *primitive_destroy;
    memory_create_fn *memory_create;
    memory_destroy_fn *memory_destroy;
    memory_set_handle_fn *memory_set_handle;
    execute_fn *execute;
} dn;
static bool matmul_ready;
static pthread_once_t matmul_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;

typedef struct batched_shape { /* all int64_t: no padding, so memcmp compares shapes */
    int64_t ta, tb, G, M, N, K, lda, ldb, ldc, stride_a, stride_b, stride_c;
} batched_shape;

typedef struct batched_entry {
    batched_shape shape;
    dnnl_primitive_t primitive;
    dnnl_memory_t a, b, c;
} batched_entry;

/* A step has a few batched shapes (the GPT step three); past this many the oldest goes. */
enum { BATCHED_CACHE = 16 };

typedef struct batched_cache {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int n, next;
    batched_entry entries[BATCHED_CACHE];
} batched_cache;

static void entry_release(batched_entry *e) {
    if (e->a) dn.memory_destroy(e->a);
    if (e->b) dn.memory_destroy(e->b);
    if (e->c) dn.memory_destroy(e->c);
    if (e->primitive) dn.primitive_destroy(e->primitive);
    memset(e, 0, sizeof *e);
}

static void cache_release(void *p) {
    batched_cache *c = p;
    for (int i = 0; i < c->n; i++) entry_release(&c->entries[i]);
    if (c->stream) dn.stream_destroy(c->stream);
    if (c->engine) dn.engine_destroy(c->engine);
    free(c);
}

static void load_matmul(void) {
    pthread_once(&load_once, load_onednn);
    if (!onednn_lib) return;
    dn.engine_create = (engine_create_fn *)rt_onednn_symbol("dnnl_engine_create");
    dn.engine_destroy = (engine_destroy_fn *)rt_onednn_symbol("dnnl_engine_destroy");
    dn.stream_create = (stream_create_fn *)rt_onednn_symbol("dnnl_stream_create");
    dn.stream_destroy = (stream_destroy_fn *)rt_onednn_symbol("dnnl_stream_destroy");
    dn.md_by_strides = (md_by_strides_fn *)rt_onednn_symbol("dnnl_memory_desc_init_by_strides");
    dn.matmul_desc = (matmul_desc_fn *)rt_onednn_symbol("dnnl_matmul_desc_init");
    dn.pd_create = (pd_create_fn *)rt_onednn_symbol("dnnl_primitive_desc_create");
    dn.pd_destroy = (pd_destroy_fn *)rt_onednn_symbol("dnnl_primitive_desc_destroy");
    dn.primitive_create = (primitive_create_fn *)rt_onednn_symbol("dnnl_primitive_create");
    dn.primitive_destroy = (primitive_destroy_fn *)rt_onednn_symbol("dnnl_primitive_destroy");
    dn.memory_create = (memory_create_fn *)rt_onednn_symbol("dnnl_memory_create");
    dn.memory_destroy = (memory_destroy_fn *)rt_onednn_symbol("dnnl_memory_destroy");
    dn.memory_set_handle = (memory_set_handle_fn *)rt_onednn_symbol("dnnl_memory_set_data_handle");
    /* Global, like dnnl_sgemm: a preloaded one (bench/sgemm_shim.c) stands in front of it. */
    dn.execute = (execute_fn *)dlsym(RTLD_DEFAULT, "dnnl_primitive_execute");
    void *const all[] = {dn.engine_create, dn.engine_destroy, dn.stream_create, dn.stream_destroy,
                         dn.md_by_strides, dn.matmul_desc, dn.pd_create, dn.pd_destroy, dn.primitive_create,
                         dn.primitive_destroy, dn.memory_create, dn.memory_destroy, dn.memory_set_handle,
                         dn.execute};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (!all[i]) return;
    matmul_ready = pthread_key_create(&cache_key, cache_release) == 0;
}

static batched_cache *thread_cache(void) {
    batched_cache *c = pthread_getspecific(cache_key);
    if (c) return c;
    if (!(c = calloc(1, sizeof *c))) return NULL;
    if (dn.engine_create(&c->engine, dnnl_cpu, 0) != dnnl_success ||
        dn.stream_create(&c->stream, c->engine, dnnl_stream_default_flags) != dnnl_success ||
        pthread_setspecific(cache_key, c) != 0) {
        cache_release(c);
        return NULL;
    }
    return c;
}

/* The memory descriptor of a batch of R x C matrices, element (r, c) of matrix g at
 * g * stride + r * row + c * col; a batch of one matrix shared by every product has
 * batch dimension 1, which the primitive broadcasts. */
static bool batch_md(dnnl_memory_desc_t *md, int64_t G, int64_t stride, int64_t R, int64_t C, int64_t row,
                     int64_t col) {
    dnnl_dims_t dims = {stride ? G : 1, R, C}, strides = {stride ? stride : R * C, row, col};
    return dn.md_by_strides(md, 3, dims, dnnl_f32, strides) == dnnl_success;
}

static bool entry_create(batched_cache *c, batched_entry *e, const batched_shape *s) {
    memset(e, 0, sizeof *e);
    e->shape = *s;
    dnnl_memory_desc_t a, b, d;
    dnnl_matmul_desc_t op;
    if (!batch_md(&a, s->G, s->stride_a, s->M, s->K, s->ta ? 1 : s->lda, s->ta ? s->lda : 1) ||
        !batch_md(&b, s->G, s->stride_b, s->K, s->N, s->tb ? 1 : s->ldb, s->tb ? s->ldb : 1) ||
        !batch_md(&d, s->G, s->stride_c, s->M, s->N, s->ldc, 1) || dn.matmul_desc(&op, &a, &b, NULL, &d) != dnnl_success)
        return false;
    dnnl_primitive_desc_t pd;
    if (dn.pd_create(&pd, &op, NULL, c->engine, NULL) != dnnl_success) return false;
    bool ok = dn.primitive_create(&e->primitive, pd) == dnnl_success;
    dn.pd_destroy(pd);
    ok = ok && dn.memory_create(&e->a, &a, c->engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dn.memory_create(&e->b, &b, c->engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dn.memory_create(&e->c, &d, c->engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (!ok) entry_release(e);
    return ok;
}

static batched_entry *entry_for(batched_cache *c, const batched_shape *s) {
    for (int i = 0; i < c->n; i++)
        if (memcmp(&c->entries[i].shape, s, sizeof *s) == 0) return &c->entries[i];
    batched_entry made;
    if (!entry_create(c, &made, s)) return NULL; /* a shape the primitive refuses: one by one */
    batched_entry *e;
    if (c->n < BATCHED_CACHE) {
        e = &c->entries[c->n++];
    } else {
        e = &c->entries[c->next];
        c->next = (c->next + 1) % BATCHED_CACHE;
        entry_release(e);
    }
    *e = made;
    return e;
}

static bool onednn_batched(const batched_shape *s, const float *A, const float *B, float *C) {
    pthread_once(&matmul_once, load_matmul);
    if (!matmul_ready) return false;
    batched_cache *c = thread_cache();
    batched_entry *e = c ? entry_for(c, s) : NULL;
    if (!e) return false;
    rt_onednn_one_thread();
    dn.memory_set_handle(e->a, (void *)A);
    dn.memory_set_handle(e->b, (void *)B);
    dn.memory_set_handle(e->c, C);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    return dn.execute(e->primitive, c->stream, 3, args) == dnnl_success;
}

void rt_gemm_batched(bool trans_a, bool trans_b, int64_t G, int64_t M, int64_t N, int64_t K, const float *A,
                     int64_t lda, int64_t stride_a, const float *B, int64_t ldb, int64_t stride_b, float *C,
                     int64_t ldc, int64_t stride_c) {
    if (G <= 0) return;
    pthread_once(&load_once, load_onednn);
    batched_shape s = {trans_a, trans_b, G, M, N, K, lda, ldb, ldc, stride_a, stride_b, stride_c};
    if (G > 1 && onednn_sgemm && onednn_batched(&s, A, B, C)) return;
    for (int64_t g = 0; g < G; g++)
        rt_gemm(trans_a, trans_b, M, N, K, A + g * stride_a, lda, B + g * stride_b, ldb, 0.0f, C + g * stride_c, ldc);
}
