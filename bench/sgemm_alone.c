/* sgemm_alone.c — the GFLOP/s of one sgemm shape, measured alone (workload 6), in the library
 * rlc's runtime uses: oneDNN's dnnl_sgemm (row-major calls), or OpenBLAS's with RLC_GEMM=openblas
 * (runtime/gemm.c).
 *     sgemm_alone ORDER TRANSA TRANSB M N K THREADS [cpu]
 * With `cpu` the rounds are timed in the process's CPU time (user + sys of every thread),
 * the measure for a machine other jobs load (bench/products_alone.sh); else in wall time.
 * (the CBLAS enum values, as sgemm_shim.c logs them). Operands are filled once; the call is
 * repeated until 0.3 s have passed after a warm-up, and the best of 5 such rounds is printed
 * as `gflops=X` (2 M N K flops per call). */
#define _POSIX_C_SOURCE 199309L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <dnnl.h>

void openblas_set_num_threads(int n);
void omp_set_num_threads(int n);

static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec t;
    clock_gettime(clock_id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 8 && !(argc == 9 && strcmp(argv[8], "cpu") == 0)) {
        fputs("usage: sgemm_alone ORDER TRANSA TRANSB M N K THREADS [cpu]\n", stderr);
        return 2;
    }
    if (argc == 9) clock_id = CLOCK_PROCESS_CPUTIME_ID;
    int order = atoi(argv[1]), ta = atoi(argv[2]), tb = atoi(argv[3]);
    int m = atoi(argv[4]), n = atoi(argv[5]), k = atoi(argv[6]), threads = atoi(argv[7]);
    if (m <= 0 || n <= 0 || k <= 0 || threads <= 0 || (order != CblasRowMajor && order != CblasColMajor)) {
        fputs("sgemm_alone: M, N, K and THREADS must be positive, ORDER 101 or 102\n", stderr);
        return 2;
    }
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
    bool row = order == CblasRowMajor;
    const char *gemm = getenv("RLC_GEMM");
    bool onednn = row && !(gemm && strcmp(gemm, "openblas") == 0);
    bool at = ta != CblasNoTrans, bt = tb != CblasNoTrans;
    /* Leading dimensions of tight operands: A is m x k (k x m when transposed), B k x n. */
    int lda = row ? (at ? m : k) : (at ? k : m);
    int ldb = row ? (bt ? k : n) : (bt ? n : k);
    int ldc = row ? n : m;
    float *a = malloc(sizeof(float) * (size_t)m * (size_t)k);
    float *b = malloc(sizeof(float) * (size_t)k * (size_t)n);
    float *c = malloc(sizeof(float) * (size_t)m * (size_t)n);
    if (!a || !b || !c) {
        fputs("sgemm_alone: out of memory\n", stderr);
        return 1;
    }
    for (size_t i = 0; i < (size_t)m * (size_t)k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)k * (size_t)n; i++) b[i] = (float)(i % 5) * 0.1f;
    for (size_t i = 0; i < (size_t)m * (size_t)n; i++) c[i] = 0;
    double best = 0;
    for (int round = -1; round < 5; round++) {  /* round -1 warms up */
        long calls = 0;
        double t0 = now(), t;
        do {
            if (onednn)
                dnnl_sgemm(at ? 'T' : 'N', bt ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
            else
                cblas_sgemm(order, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
            calls++;
        } while ((t = now() - t0) < 0.3);
        double gflops = 2.0 * m * n * (double)k * (double)calls / t * 1e-9;
        if (round >= 0 && gflops > best) best = gflops;
    }
    printf("gflops=%.2f\n", best);
    free(a);
    free(b);
    free(c);
    return 0;
}
