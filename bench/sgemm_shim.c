/* sgemm_shim.c — counts the time a process spends in sgemm, by shape (workload 6).
 *
 * Preloaded (LD_PRELOAD) into a trainer, it stands in front of OpenBLAS's cblas_sgemm and
 * oneDNN's dnnl_sgemm (runtime/gemm.c looks the latter up in the global scope, after the
 * preloaded objects): every call is timed with the monotonic clock and forwarded to the real
 * one (dlsym RTLD_NEXT); a oneDNN call is logged as the row-major CBLAS call it equals. At
 * exit it writes one line per distinct call shape to the file named by $SGEMM_LOG:
 *     order transA transB M N K calls seconds
 * Calls made from several threads at once are each timed, so with threads > 1 the seconds are
 * the sum over callers, not wall time. The JIT finds cblas_sgemm through the dynamic linker, so
 * the preloaded one is the one it calls.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
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

static void record(int order, int ta, int tb, int m, int n, int k, double seconds) {
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < n_shapes && !(shapes[i].order == order && shapes[i].ta == ta && shapes[i].tb == tb &&
                             shapes[i].m == m && shapes[i].n == n && shapes[i].k == k))
        i++;
    if (i == n_shapes && n_shapes < MAX_SHAPES) shapes[n_shapes++] = (Shape){order, ta, tb, m, n, k, 0, 0};
    if (i < n_shapes) {
        shapes[i].calls++;
        shapes[i].seconds += seconds;
    } else {
        dropped++;
    }
    pthread_mutex_unlock(&lock);
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
