/* sgemm_shim.c — counts the time a process spends in sgemm, by shape (workload 6).
 *
 * Preloaded (LD_PRELOAD) into a trainer, it stands in front of OpenBLAS's cblas_sgemm and
 * oneDNN's dnnl_sgemm (runtime/gemm.c looks the latter up in the global scope, after the
 * preloaded objects): every call is timed with the monotonic clock and forwarded to the real
 * one (dlsym RTLD_NEXT); a oneDNN call is logged as the row-major CBLAS call it equals, a call
 * of oneDNN's matmul primitive (a batch of G products) as G such calls. At
 * exit it writes one line per distinct call shape to the file named by $SGEMM_LOG:
 *     order transA transB M N K calls seconds
 * Calls made from several threads at once are each timed, so with threads > 1 the seconds are
 * the sum over callers, not wall time. The JIT finds cblas_sgemm through the dynamic linker, so
 * the preloaded one is the one it calls.
 *
 * oneDNN's convolution primitives (runtime/conv_onednn.c, a block of images a call) and the
 * reorders into and out of their layouts are timed too and written to the file named by
 * $CONV_LOG, one line per distinct convolution and direction, and one for all reorders:
 *     conv fwd|bwd_data|bwd_weights N C H W O KH KW OH OW calls seconds
 *     reorder - 0 0 0 0 0 0 0 0 0 calls seconds
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl_types.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void sgemm_fn(int, int, int, int, int, int, float, const float *, int, const float *, int,
                      float, float *, int);

enum { MAX_SHAPES = 256, KEY = 9 };

/* The timed calls of one shape: a product's (order, transA, transB, M, N, K) or a
 * convolution's (N C H W O KH KW OH OW) with its label ("conv fwd", ...; "reorder -" for all
 * reorders, no shape). */
typedef struct Tally {
    const char *label;
    long key[KEY];
    long calls;
    double seconds;
} Tally;

/* One log: its rows, and the calls whose shape did not fit. */
typedef struct Table {
    Tally rows[MAX_SHAPES];
    int n;
    long dropped;
} Table;

static Table products, convs;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sgemm_fn *real_sgemm;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Labels are string literals: one shape's calls always come with the same pointer. */
static void tally(Table *t, const char *label, const long *key, long calls, double seconds) {
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < t->n && !(t->rows[i].label == label && memcmp(t->rows[i].key, key, sizeof t->rows[i].key) == 0)) i++;
    if (i == t->n && t->n < MAX_SHAPES) {
        t->rows[i] = (Tally){.label = label};
        memcpy(t->rows[t->n++].key, key, sizeof t->rows[i].key);
    }
    if (i < t->n) {
        t->rows[i].calls += calls;
        t->rows[i].seconds += seconds;
    } else {
        t->dropped += calls;
    }
    pthread_mutex_unlock(&lock);
}

static void record_calls(int order, int ta, int tb, int m, int n, int k, long calls, double seconds) {
    tally(&products, "", (const long[KEY]){order, ta, tb, m, n, k}, calls, seconds);
}

static void record(int order, int ta, int tb, int m, int n, int k, double seconds) {
    record_calls(order, ta, tb, m, n, k, 1, seconds);
}

void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    if (!real_sgemm) {
        real_sgemm = (sgemm_fn *)dlsym(RTLD_NEXT, "cblas_sgemm");
        if (!real_sgemm) {
            fputs("sgemm_shim: no cblas_sgemm behind the shim\n", stderr);
            abort();
        }
    }
    double t0 = now();
    real_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    record(order, ta, tb, m, n, k, now() - t0);
}

typedef int dnnl_sgemm_fn(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t,
                          const float *, int64_t, float, float *, int64_t);
static dnnl_sgemm_fn *real_dnnl_sgemm;

int dnnl_sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (!real_dnnl_sgemm) {
        real_dnnl_sgemm = (dnnl_sgemm_fn *)dlsym(RTLD_NEXT, "dnnl_sgemm");
        if (!real_dnnl_sgemm) {
            fputs("sgemm_shim: no dnnl_sgemm behind the shim\n", stderr);
            abort();
        }
    }
    double t0 = now();
    int status = real_dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    record(101, ta == 'T' || ta == 't' ? 112 : 111, tb == 'T' || tb == 't' ? 112 : 111, (int)m, (int)n, (int)k,
           now() - t0);
    return status;
}

/* oneDNN's matmul primitive runs a batch of G products in one call (runtime/gemm.c,
 * rt_gemm_batched): logged as G calls of the product's shape, each taking 1/G of the call, so
 * that sgemm_alone times them one by one like the rest. Convolutions and reorders go to the
 * $CONV_LOG table; other primitives are only forwarded. */
typedef dnnl_status_t execute_fn(const_dnnl_primitive_t, dnnl_stream_t, int, const dnnl_exec_arg_t *);
typedef dnnl_status_t get_pd_fn(const_dnnl_primitive_t, const_dnnl_primitive_desc_t *);
typedef dnnl_status_t pd_query_fn(const_dnnl_primitive_desc_t, dnnl_query_t, int, void *);
typedef const dnnl_memory_desc_t *pd_query_md_fn(const_dnnl_primitive_desc_t, dnnl_query_t, int);
static execute_fn *real_execute;

dnnl_status_t dnnl_primitive_execute(const_dnnl_primitive_t p, dnnl_stream_t stream, int nargs,
                                     const dnnl_exec_arg_t *args) {
    if (!real_execute) {
        real_execute = (execute_fn *)dlsym(RTLD_NEXT, "dnnl_primitive_execute");
        if (!real_execute) {
            fputs("sgemm_shim: no dnnl_primitive_execute behind the shim\n", stderr);
            abort();
        }
    }
    double t0 = now();
    dnnl_status_t status = real_execute(p, stream, nargs, args);
    double seconds = now() - t0;
    get_pd_fn *get_pd = (get_pd_fn *)dlsym(RTLD_DEFAULT, "dnnl_primitive_get_primitive_desc");
    pd_query_fn *query = (pd_query_fn *)dlsym(RTLD_DEFAULT, "dnnl_primitive_desc_query");
    pd_query_md_fn *query_md = (pd_query_md_fn *)dlsym(RTLD_DEFAULT, "dnnl_primitive_desc_query_md");
    const_dnnl_primitive_desc_t pd;
    dnnl_primitive_kind_t kind;
    if (!get_pd || !query || !query_md || get_pd(p, &pd) != dnnl_success ||
        query(pd, dnnl_query_primitive_kind, 0, &kind) != dnnl_success)
        return status;
    if (kind == dnnl_reorder) {
        tally(&convs, "reorder -", (const long[KEY]){0}, 1, seconds);
        return status;
    }
    if (kind == dnnl_convolution) {
        dnnl_prop_kind_t prop;
        if (query(pd, dnnl_query_prop_kind, 0, &prop) != dnnl_success) return status;
        const dnnl_memory_desc_t *x = query_md(pd, dnnl_query_src_md, 0), *w = query_md(pd, dnnl_query_weights_md, 0),
                                 *y = query_md(pd, dnnl_query_dst_md, 0);
        if (!x || x->ndims != 4) x = query_md(pd, dnnl_query_diff_src_md, 0);
        if (!w || w->ndims != 4) w = query_md(pd, dnnl_query_diff_weights_md, 0);
        if (!y || y->ndims != 4) y = query_md(pd, dnnl_query_diff_dst_md, 0);
        if (!x || !w || !y || x->ndims != 4 || w->ndims != 4 || y->ndims != 4) return status;
        const char *label = prop == dnnl_backward_data      ? "conv bwd_data"
                            : prop == dnnl_backward_weights ? "conv bwd_weights"
                                                            : "conv fwd";
        tally(&convs, label,
              (const long[KEY]){(long)x->dims[0], (long)x->dims[1], (long)x->dims[2], (long)x->dims[3],
                                (long)w->dims[0], (long)w->dims[2], (long)w->dims[3], (long)y->dims[2],
                                (long)y->dims[3]},
              1, seconds);
        return status;
    }
    if (kind != dnnl_matmul) return status;
    const dnnl_memory_desc_t *a = query_md(pd, dnnl_query_src_md, 0), *b = query_md(pd, dnnl_query_weights_md, 0),
                             *c = query_md(pd, dnnl_query_dst_md, 0);
    if (!a || !b || !c || c->ndims != 3) return status;
    /* A transposed operand's columns are its stored rows: stride 1 down a column */
    int ta = a->format_desc.blocking.strides[2] != 1, tb = b->format_desc.blocking.strides[2] != 1;
    long g = (long)c->dims[0];
    record_calls(101, ta ? 112 : 111, tb ? 112 : 111, (int)c->dims[1], (int)c->dims[2], (int)a->dims[2], g, seconds);
    return status;
}

/* Writes t to the file named by $env: a line per shape, its label (if any), its first
 * `numbers` key numbers, calls and seconds. */
static void write_table(const Table *t, const char *env, int numbers) {
    const char *path = getenv(env);
    FILE *f = path ? fopen(path, "w") : NULL;
    if (!f) return;
    for (int i = 0; i < t->n; i++) {
        const Tally *r = &t->rows[i];
        if (*r->label) fprintf(f, "%s ", r->label);
        for (int j = 0; j < numbers; j++) fprintf(f, "%ld ", r->key[j]);
        fprintf(f, "%ld %.9f\n", r->calls, r->seconds);
    }
    if (t->dropped) fprintf(f, "# %ld calls of shapes past the first %d not counted\n", t->dropped, MAX_SHAPES);
    fclose(f);
}

__attribute__((destructor)) static void write_logs(void) {
    write_table(&products, "SGEMM_LOG", 6);
    write_table(&convs, "CONV_LOG", KEY);
}
