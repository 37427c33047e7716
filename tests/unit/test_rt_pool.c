/* The pool covers every index exactly once with contiguous ranges, at every
 * thread count, including nested calls and more threads than items; random fills
 * split across it equal the single-threaded fill; jobs posted back to back (the
 * workers still spinning) and after a pause (the workers asleep) are all run; a
 * side job runs on a worker beside the caller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rlrt.h"

typedef struct cover {
    atomic_int *hits;
    atomic_int calls;
    rt_pool *pool;
} cover;

static void mark(void *p, int64_t lo, int64_t hi) {
    cover *c = p;
    atomic_fetch_add(&c->calls, 1);
    for (int64_t i = lo; i < hi; i++) atomic_fetch_add(&c->hits[i], 1);
}

static void test_cover_exactly_once(void **state) {
    (void)state;
    for (int threads = 1; threads <= 5; threads++) {
        rt_pool *pool = rt_pool_create(threads);
        assert_non_null(pool);
        assert_int_equal(rt_pool_threads(pool), threads);
        int64_t sizes[] = {1, 2, 3, 7, 1000};
        for (int s = 0; s < 5; s++) {
            for (int rep = 0; rep < 20; rep++) {
                atomic_int *hits = calloc((size_t)sizes[s], sizeof *hits);
                cover c = {hits, 0, pool};
                rt_parallel_for(pool, sizes[s], mark, &c);
                for (int64_t i = 0; i < sizes[s]; i++) assert_int_equal(hits[i], 1);
                int parts = sizes[s] < threads ? (int)sizes[s] : threads;
                assert_int_equal(c.calls, parts);
                free(hits);
            }
        }
        rt_pool_destroy(pool);
    }
}

/* Sums i over [lo, hi) into the job's total: each job's total must come out exact. */
static void add_indices(void *p, int64_t lo, int64_t hi) {
    int64_t s = 0;
    for (int64_t i = lo; i < hi; i++) s += i;
    atomic_fetch_add((_Atomic int64_t *)p, s);
}

static void test_jobs_back_to_back_and_after_sleep(void **state) {
    (void)state;
    for (int threads = 2; threads <= 4; threads++) {
        rt_pool *pool = rt_pool_create(threads);
        for (int job = 0; job < 20000; job++) {
            if (job % 2000 == 1999) nanosleep(&(struct timespec){0, 2000000}, NULL); /* past the spin */
            int64_t n = 1 + job % 37;
            _Atomic int64_t total = 0;
            rt_parallel_for(pool, n, add_indices, &total);
            assert_int_equal(atomic_load(&total), n * (n - 1) / 2);
        }
        rt_pool_destroy(pool);
    }
}

static void nested(void *p, int64_t lo, int64_t hi) {
    cover *c = p;
    for (int64_t i = lo; i < hi; i++) rt_parallel_for(c->pool, 10, mark, &(cover){c->hits + 10 * i, 0, NULL});
}

static void test_nested_runs_inline(void **state) {
    (void)state;
    rt_pool *pool = rt_pool_create(3);
    atomic_int hits[40] = {0};
    cover c = {hits, 0, pool};
    rt_parallel_for(pool, 4, nested, &c);
    for (int i = 0; i < 40; i++) assert_int_equal(hits[i], 1);
    rt_pool_destroy(pool);
}

typedef struct fill {
    float *out;
} fill;

static void fill_range(void *p, int64_t lo, int64_t hi) {
    rt_random_fill(RT_RAND_NORMAL, ((fill *)p)->out, lo, hi, 0, 1, 11, 3, 9);
}

/* A side job: run once on a worker while the caller goes on (it waits on a flag
 * only the caller sets, so it cannot have run on the caller's thread); a
 * parallel_for posted meanwhile first waits for it; side jobs are not counted as
 * split jobs; a pool of one thread (or none) refuses one. */
typedef struct side {
    atomic_int go, runs;
    pthread_t thread;
} side;

static void side_job(void *p, int64_t lo, int64_t hi) {
    side *s = p;
    assert_true(lo == 0 && hi == 1);
    while (!atomic_load(&s->go)) sched_yield();
    s->thread = pthread_self();
    atomic_fetch_add(&s->runs, 1);
}

static void test_side_job(void **state) {
    (void)state;
    for (int threads = 2; threads <= 4; threads++) {
        rt_pool *pool = rt_pool_create(threads);
        assert_non_null(pool);
        for (int rep = 0; rep < 50; rep++) {
            side s = {0};
            uint64_t jobs = rt_pool_jobs(pool);
            assert_true(rt_pool_side_start(pool, side_job, &s));
            assert_true(rt_pool_side_running(pool)); /* it waits for go */
            atomic_store(&s.go, 1);
            if (rep % 2) {
                rt_pool_side_wait(pool);
            } else {
                atomic_int hits[64] = {0};
                cover c = {hits, 0, NULL};
                rt_parallel_for(pool, 64, mark, &c);
                assert_int_equal(atomic_load(&s.runs), 1); /* finished before the loop ran */
                for (int i = 0; i < 64; i++) assert_int_equal(atomic_load(&hits[i]), 1);
                jobs++;
            }
            assert_false(rt_pool_side_running(pool));
            rt_pool_side_wait(pool); /* none running: returns at once */
            assert_int_equal(atomic_load(&s.runs), 1);
            assert_false(pthread_equal(s.thread, pthread_self()));
            assert_int_equal(rt_pool_jobs(pool), jobs);
        }
        rt_pool_destroy(pool);
    }
    rt_pool *one = rt_pool_create(1);
    side s = {0};
    assert_false(rt_pool_side_start(one, side_job, &s));
    assert_false(rt_pool_side_start(NULL, side_job, &s));
    assert_false(rt_pool_side_running(one));
    rt_pool_side_wait(one);
    rt_pool_side_wait(NULL);
    assert_int_equal(atomic_load(&s.runs), 0);
    rt_pool_destroy(one);
}

static void test_random_fill_independent_of_threads(void **state) {
    (void)state;
    enum { N = 10007 };
    float *one = malloc(N * sizeof *one), *many = malloc(N * sizeof *many);
    rt_random_fill(RT_RAND_NORMAL, one, 0, N, 0, 1, 11, 3, 9);
    rt_pool *pool = rt_pool_create(3);
    rt_parallel_for(pool, N, fill_range, &(fill){many});
    assert_memory_equal(one, many, N * sizeof *one);
    rt_pool_destroy(pool);
    free(one);
    free(many);
}

/* C = op(A) op(B) in double, row-major, for rt_sgemm to match. */
static void ref_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A,
                     const float *B, double *C) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
            C[i * N + j] = s;
        }
}

/* Products split over the pool (by rows when M >= N, else by columns, odd edges
 * included) give op(A) op(B) at every transpose, and OpenBLAS stays on one thread. */
static void test_sgemm_split(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {{2001, 97, 53}, {40, 8111, 29}, {256, 256, 256}, {5, 7, 3}};
    rt_pool *pools[3] = {NULL, rt_pool_create(2), rt_pool_create(3)};
    assert_int_equal(openblas_get_num_threads(), 1);
    rt_sgemm_profile(true);
    int calls = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
        float *C = malloc(sizeof(float) * (size_t)(M * N));
        double *R = malloc(sizeof(double) * (size_t)(M * N));
        for (int64_t i = 0; i < M * K; i++) A[i] = (float)((i * 37 % 101) - 50) / 50.0f;
        for (int64_t i = 0; i < K * N; i++) B[i] = (float)((i * 53 % 97) - 48) / 48.0f;
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            ref_gemm(ta, tb, M, N, K, A, B, R);
            for (int p = 0; p < 3; p++) {
                memset(C, 0xff, sizeof(float) * (size_t)(M * N)); /* NaNs: every element written */
                rt_sgemm(pools[p], ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, C, N);
                calls++;
                int64_t bad = 0; /* NaN compares false: an unwritten element is bad */
                for (int64_t i = 0; i < M * N; i++) bad += !(fabs(C[i] - R[i]) / fmax(1, fabs(R[i])) < 1e-5);
                assert_int_equal(bad, 0);
            }
        }
        free(A), free(B), free(C), free(R);
    }
    uint64_t counted = 0;
    assert_true(rt_sgemm_seconds(&counted) > 0);
    assert_int_equal((int)counted, calls);
    rt_sgemm_profile(false);
    assert_int_equal(openblas_get_num_threads(), 1);
    rt_pool_destroy(pools[1]);
    rt_pool_destroy(pools[2]);
}

/* The cost model (pool.c): a product splits only into parts of 2^22 multiply-adds
 * or more. The batch-32 auto-encoder's products (32 x 256 x 784, 6.4M) stay one
 * call at 2 threads, bit-identical to the 1-thread product; its batch-256 ones
 * (51M) split, at 2 threads and at 16. */
static void test_sgemm_split_cost_model(void **state) {
    (void)state;
    static const struct { int64_t M, N, K; int threads; bool split; } cases[] = {
        {32, 256, 784, 2, false}, {256, 32, 784, 2, false}, {784, 256, 32, 2, false},
        {256, 256, 784, 2, true}, {256, 256, 784, 16, true}, {2048, 2048, 1, 2, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t M = cases[c].M, N = cases[c].N, K = cases[c].K;
        float *A = calloc((size_t)(M * K), sizeof(float)), *B = calloc((size_t)(K * N), sizeof(float));
        float *C = malloc(sizeof(float) * (size_t)(M * N)), *C1 = malloc(sizeof(float) * (size_t)(M * N));
        assert_true(A && B && C && C1);
        for (int64_t i = 0; i < M * K; i++) A[i] = (float)((i * 37 % 101) - 50) / 50.0f;
        for (int64_t i = 0; i < K * N; i++) B[i] = (float)((i * 53 % 97) - 48) / 48.0f;
        rt_pool *pool = rt_pool_create(cases[c].threads);
        rt_sgemm(NULL, 0, 0, M, N, K, A, K, B, N, C1, N);
        uint64_t jobs = rt_pool_jobs(pool);
        rt_sgemm_profile(true);
        rt_sgemm(pool, 0, 0, M, N, K, A, K, B, N, C, N);
        int split = (int)rt_sgemm_split_calls();
        rt_sgemm_profile(false);
        assert_int_equal(split, cases[c].split);
        assert_int_equal((int)(rt_pool_jobs(pool) - jobs), cases[c].split);
        if (!cases[c].split) assert_memory_equal(C, C1, sizeof(float) * (size_t)(M * N));
        rt_pool_destroy(pool);
        free(A), free(B), free(C), free(C1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover_exactly_once),
        cmocka_unit_test(test_nested_runs_inline),
        cmocka_unit_test(test_jobs_back_to_back_and_after_sleep),
        cmocka_unit_test(test_side_job),
        cmocka_unit_test(test_random_fill_independent_of_threads),
        cmocka_unit_test(test_sgemm_split),
        cmocka_unit_test(test_sgemm_split_cost_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
