/* The pool covers every index exactly once with contiguous ranges, at every
 * thread count, including nested calls and more threads than items; random fills
 * split across it equal the single-threaded fill. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover_exactly_once),
        cmocka_unit_test(test_nested_runs_inline),
        cmocka_unit_test(test_random_fill_independent_of_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
