/* rt_gemm, the one-thread product under rt_sgemm and the convolutions: every transpose, beta 0
 * and 1, operands inside wider rows, against a product in double; the library is the one
 * gemm.c promises (oneDNN, which scripts/setup.sh installs, unless RLC_GEMM=openblas: ctest
 * runs this file both ways), and products from several pool threads start no threads of the
 * library's own (the pool's threads are the step's only parallelism, rlrt.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rlrt.h"

static float value(uint32_t i, uint32_t salt) {
    uint32_t h = (i + 1) * 2654435761u ^ salt * 40503u;
    h ^= h >> 13;
    return (float)(h % 2001) / 1000.0f - 1.0f;
}

/* rt_gemm on operands with leading dimensions 3 wider than tight, checked against double. */
static void check_product(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float beta) {
    int64_t rows_a = ta ? K : M, cols_a = ta ? M : K, rows_b = tb ? N : K, cols_b = tb ? K : N;
    int64_t lda = cols_a + 3, ldb = cols_b + 3, ldc = N + 3;
    float *A = malloc(sizeof(float) * (size_t)(rows_a * lda));
    float *B = malloc(sizeof(float) * (size_t)(rows_b * ldb));
    float *C = malloc(sizeof(float) * (size_t)(M * ldc));
    assert_true(A && B && C);
    for (int64_t i = 0; i < rows_a * lda; i++) A[i] = value((uint32_t)i, 1);
    for (int64_t i = 0; i < rows_b * ldb; i++) B[i] = value((uint32_t)i, 2);
    for (int64_t i = 0; i < M * ldc; i++) C[i] = value((uint32_t)i, 3);
    float *before = malloc(sizeof(float) * (size_t)(M * ldc));
    memcpy(before, C, sizeof(float) * (size_t)(M * ldc));
    rt_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < ldc; j++) {
            if (j >= N) { /* the padding of C's rows is never written */
                assert_memory_equal(&C[i * ldc + j], &before[i * ldc + j], sizeof(float));
                continue;
            }
            double sum = beta * (double)before[i * ldc + j], mag = fabs(sum);
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k], b = tb ? B[j * ldb + k] : B[k * ldb + j];
                sum += a * b;
                mag += fabs(a * b);
            }
            double got = C[i * ldc + j];
            if (!(fabs(got - sum) <= 1e-6 * (mag + 1))) /* NaN fails too */
                fail_msg("C[%lld,%lld] = %g, want %g (ta %d tb %d M %lld N %lld K %lld beta %g)", (long long)i,
                         (long long)j, got, sum, ta, tb, (long long)M, (long long)N, (long long)K, beta);
        }
    }
    free(A);
    free(B);
    free(C);
    free(before);
}

static void test_products_match_double(void **state) {
    (void)state;
    const int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {64, 128, 256}, {256, 64, 784}, {5, 300, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++)
            for (int b = 0; b < 2; b++)
                check_product(t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], (float)b);
}

static void test_library_is_the_promised_one(void **state) {
    (void)state;
    const char *want = getenv("RLC_GEMM");
    assert_string_equal(rt_gemm_library(), want && strcmp(want, "openblas") == 0 ? "OpenBLAS" : "oneDNN");
}

static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Large enough that rt_sgemm splits it over both threads (2^22 multiply-adds a part). */
static void test_no_threads_beyond_the_pool(void **state) {
    (void)state;
    rt_pool *pool = rt_pool_create(2);
    assert_non_null(pool);
    int64_t M = 512, N = 512, K = 512;
    float *A = calloc((size_t)(M * K), sizeof(float)), *B = calloc((size_t)(K * N), sizeof(float));
    float *C = malloc(sizeof(float) * (size_t)(M * N));
    assert_true(A && B && C);
    int with_pool = thread_count();
    uint64_t jobs = rt_pool_jobs(pool);
    for (int rep = 0; rep < 3; rep++) rt_sgemm(pool, 0, 1, M, N, K, A, K, B, K, C, N);
    assert_true(rt_pool_jobs(pool) > jobs);
    assert_int_equal(thread_count(), with_pool);
    free(A);
    free(B);
    free(C);
    rt_pool_destroy(pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products_match_double),
        cmocka_unit_test(test_library_is_the_promised_one),
        cmocka_unit_test(test_no_threads_beyond_the_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
