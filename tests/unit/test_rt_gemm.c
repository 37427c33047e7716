/* rt_gemm, the one-thread product under rt_sgemm and the convolutions: every transpose, beta 0
 * and 1, operands inside wider rows, against a product in double; the library is the one
 * gemm.c promises (oneDNN, which scripts/setup.sh installs, unless RLC_GEMM=openblas: ctest
 * runs this file both ways), and products from several pool threads start no threads of the
 * library's own (the pool's threads are the step's only parallelism, rlrt.h). Batched products
 * (rt_gemm_batched: oneDNN's matmul primitive, or the loop) likewise against double, and those
 * rt_sgemm splits run as it runs them. */
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

/* rt_gemm_batched: G products with leading dimensions 3 wider than tight and gaps between
 * the matrices (or one matrix shared by all, stride 0), each checked against double; C's
 * padding and gaps are never written. */
static void check_batched(bool ta, bool tb, int64_t G, int64_t M, int64_t N, int64_t K, bool shared_a,
                          bool shared_b) {
    int64_t rows_a = ta ? K : M, cols_a = ta ? M : K, rows_b = tb ? N : K, cols_b = tb ? K : N;
    int64_t lda = cols_a + 3, ldb = cols_b + 3, ldc = N + 3;
    int64_t sa = shared_a ? 0 : rows_a * lda + 5, sb = shared_b ? 0 : rows_b * ldb + 7, sc = M * ldc + 2;
    int64_t na = shared_a ? rows_a * lda : G * sa, nb = shared_b ? rows_b * ldb : G * sb, nc = G * sc;
    float *A = malloc(sizeof(float) * (size_t)na), *B = malloc(sizeof(float) * (size_t)nb);
    float *C = malloc(sizeof(float) * (size_t)nc), *before = malloc(sizeof(float) * (size_t)nc);
    assert_true(A && B && C && before);
    for (int64_t i = 0; i < na; i++) A[i] = value((uint32_t)i, 4);
    for (int64_t i = 0; i < nb; i++) B[i] = value((uint32_t)i, 5);
    for (int64_t i = 0; i < nc; i++) C[i] = before[i] = value((uint32_t)i, 6);
    rt_gemm_batched(ta, tb, G, M, N, K, A, lda, sa, B, ldb, sb, C, ldc, sc);
    for (int64_t g = 0; g < G; g++) {
        const float *a = A + g * sa, *b = B + g * sb;
        for (int64_t at = g * sc; at < (g + 1) * sc; at++) {
            int64_t i = (at - g * sc) / ldc, j = (at - g * sc) % ldc;
            if (i >= M || j >= N) { /* padding and the gap after the matrix */
                assert_memory_equal(&C[at], &before[at], sizeof(float));
                continue;
            }
            double sum = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                double x = ta ? a[k * lda + i] : a[i * lda + k], y = tb ? b[j * ldb + k] : b[k * ldb + j];
                sum += x * y;
                mag += fabs(x * y);
            }
            if (!(fabs(C[at] - sum) <= 1e-6 * (mag + 1)))
                fail_msg("C[%lld][%lld,%lld] = %g, want %g (ta %d tb %d G %lld M %lld N %lld K %lld)",
                         (long long)g, (long long)i, (long long)j, C[at], sum, ta, tb, (long long)G, (long long)M,
                         (long long)N, (long long)K);
        }
    }
    free(A);
    free(B);
    free(C);
    free(before);
}

static void test_batched_products_match_double(void **state) {
    (void)state;
    const int64_t shapes[][4] = {{512, 32, 32, 32}, {3, 7, 5, 3}, {1, 33, 17, 65}, {9, 16, 40, 8}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++)
            for (int shared = 0; shared < 3; shared++)
                check_batched(t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shared == 1,
                              shared == 2);
    /* more shapes than a thread's cache of primitives holds: the oldest make way */
    for (int64_t n = 1; n <= 40; n++) check_batched(false, true, 4, 8, n, 16, false, false);
    check_batched(false, false, 4, 8, 3, 16, false, false);
}

/* A batch of products that rt_sgemm splits runs each split as rt_sgemm does: same bits. */
static void test_batched_large_products_split_as_alone(void **state) {
    (void)state;
    rt_pool *pool = rt_pool_create(2);
    assert_non_null(pool);
    int64_t G = 2, M = 256, N = 256, K = 256;
    float *A = malloc(sizeof(float) * (size_t)(G * M * K)), *B = malloc(sizeof(float) * (size_t)(G * K * N));
    float *C = malloc(sizeof(float) * (size_t)(G * M * N)), *alone = malloc(sizeof(float) * (size_t)(G * M * N));
    assert_true(A && B && C && alone);
    for (int64_t i = 0; i < G * M * K; i++) A[i] = value((uint32_t)i, 7);
    for (int64_t i = 0; i < G * K * N; i++) B[i] = value((uint32_t)i, 8);
    uint64_t jobs = rt_pool_jobs(pool);
    rt_sgemm_batched(pool, 1, 0, G, M, N, K, A, M, M * K, B, N, K * N, C, N, M * N);
    assert_true(rt_pool_jobs(pool) >= jobs + (uint64_t)G);
    for (int64_t g = 0; g < G; g++)
        rt_sgemm(pool, 1, 0, M, N, K, A + g * M * K, M, B + g * K * N, N, alone + g * M * N, N);
    assert_memory_equal(C, alone, sizeof(float) * (size_t)(G * M * N));
    free(A);
    free(B);
    free(C);
    free(alone);
    rt_pool_destroy(pool);
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
        cmocka_unit_test(test_batched_products_match_double),
        cmocka_unit_test(test_batched_large_products_split_as_alone),
        cmocka_unit_test(test_library_is_the_promised_one),
        cmocka_unit_test(test_no_threads_beyond_the_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
