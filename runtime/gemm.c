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
#include <pthread.h>
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
static _Thread_local bool omp_one_thread;

static void load_onednn(void) {
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
