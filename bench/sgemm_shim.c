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
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl_types.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void sgemm_fn(int, int, int, int, int, int, float, const float *, int, const float *, int,
                      float, float *, int);

enum { MAX_SHAPES = 256 };

typedef struct Shape {
    int order, ta, tb, m, n, k;
    long calls;
    double seconds;
} Shape;

static Shape shapes[MAX_SHAPES];
static int n_shapes;
static long dropped;  /* calls whose shape did not fit the table */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sgemm_fn *real_sgemm;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void record_calls(int order, int ta, int tb, int m, int n, int k, long calls, double seconds) {
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < n_shapes && !(shapes[i].order == order && shapes[i].ta == ta && shapes[i].tb == tb &&
                             shapes[i].m == m && shapes[i].n == n && shapes[i].k == k))
        i++;
    if (i == n_shapes && n_shapes < MAX_SHAPES) shapes[n_shapes++] = (Shape){order, ta, tb, m, n, k, 0, 0};
    if (i < n_shapes) {
        shapes[i].calls += calls;
        shapes[i].seconds += seconds;
    } else {
        dropped += calls;
    }
    pthread_mutex_unlock(&lock);
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
 * that sgemm_alone times them one by one like the rest. Other primitives are only forwarded. */
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
        query(pd, dnnl_query_primitive_kind, 0, &kind) != dnnl_success || kind != dnnl_matmul)
        return status;
    const dnnl_memory_desc_t *a = query_md(pd, dnnl_query_src_md, 0), *b = query_md(pd, dnnl_query_weights_md, 0),
                             *c = query_md(pd, dnnl_query_dst_md, 0);
    if (!a || !b || !c || c->ndims != 3) return status;
    /* A transposed operand's columns are its stored rows: stride 1 down a column */
    int ta = a->format_desc.blocking.strides[2] != 1, tb = b->format_desc.blocking.strides[2] != 1;
    long g = (long)c->dims[0];
    record_calls(101, ta ? 112 : 111, tb ? 112 : 111, (int)c->dims[1], (int)c->dims[2], (int)a->dims[2], g, seconds);
    return status;
}

__attribute__((destructor)) static void write_log(void) {
    const char *path = getenv("SGEMM_LOG");
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    for (int i = 0; i < n_shapes; i++)
        fprintf(f, "%d %d %d %d %d %d %ld %.9f\n", shapes[i].order, shapes[i].ta, shapes[i].tb,
                shapes[i].m, shapes[i].n, shapes[i].k, shapes[i].calls, shapes[i].seconds);
    if (dropped) fprintf(f, "# %ld calls of shapes past the first %d not counted\n", dropped, MAX_SHAPES);
    fclose(f);
}
