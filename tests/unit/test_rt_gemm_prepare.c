/* rt_gemm_prepare, which opens the product library and runs its first product on a thread of
 * its own before a trainer's first step: in a fresh process nothing is open until it is called,
 * products on other threads while it runs are right (they wait for the library as they would
 * for their own first product), it may be called and finished any number of times, and the
 * library is open once it finishes. ctest runs this file on oneDNN and on OpenBLAS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "rlrt.h"

enum { M = 37, N = 29, K = 53 };

/* One M x N x K product on rt_gemm against the same product in double: whether it agrees. */
static bool product_right(void) {
    float A[M * K], B[K * N], C[M * N];
    for (int i = 0; i < M * K; i++) A[i] = (float)((i * 7) % 13) / 6.0f - 1.0f;
    for (int i = 0; i < K * N; i++) B[i] = (float)((i * 5) % 11) / 5.0f - 1.0f;
    rt_gemm(false, false, M, N, K, A, K, B, N, 0.0f, C, N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double sum = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                sum += (double)A[i * K + k] * B[k * N + j];
                mag += fabs((double)A[i * K + k] * B[k * N + j]);
            }
            if (!(fabs(C[i * N + j] - sum) <= 1e-6 * (mag + 1))) return false; /* NaN fails too */
        }
    return true;
}

/* cmocka's checks jump, so the pool's threads only count the wrong products. */
static void product_task(void *ctx, int64_t lo, int64_t hi) {
    atomic_int *wrong = ctx;
    for (int64_t i = lo; i < hi; i++)
        if (!product_right()) atomic_fetch_add(wrong, 1);
}

static void test_prepare_opens_the_library_meanwhile(void **state) {
    (void)state;
    assert_false(rt_gemm_loaded()); /* opened on demand only */
    rt_gemm_prepare_finish();       /* nothing started: nothing to wait for */
    assert_false(rt_gemm_loaded());
    rt_gemm_prepare();
    rt_gemm_prepare(); /* a second call while the first runs starts nothing more */
    /* products on the pool's two threads, at once with the preparation */
    rt_pool *pool = rt_pool_create(2);
    assert_non_null(pool);
    atomic_int wrong = 0;
    rt_parallel_for(pool, 4, product_task, &wrong);
    assert_int_equal(atomic_load(&wrong), 0);
    rt_gemm_prepare_finish();
    rt_gemm_prepare_finish();
    assert_true(rt_gemm_loaded());
    rt_gemm_prepare(); /* open already: nothing to do */
    rt_gemm_prepare_finish();
    assert_true(product_right());
    rt_pool_destroy(pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare_opens_the_library_meanwhile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
