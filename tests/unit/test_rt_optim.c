/* Optimizer updates against their textbook formulas evaluated in double, the
 * sparse-row variants against the dense ones, and the schedules' end points. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rlrt.h"

static void test_sgd(void **state) {
    (void)state;
    float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.25f}, mom[2] = {0.1f, 0.0f};
    rt_update_sgd(p, g, mom, 2, 0.1f, 0.9f, 0.01f);
    /* g' = g + 0.01 p; mom = 0.9 mom + g'; p -= 0.1 mom */
    double m0 = 0.9 * 0.1 + 0.5 + 0.01, m1 = 0.25 - 0.02;
    assert_float_equal(mom[0], m0, 1e-6);
    assert_float_equal(p[0], 1.0 - 0.1 * m0, 1e-6);
    assert_float_equal(p[1], -2.0 - 0.1 * m1, 1e-6);
    float q[1] = {1.0f}, h[1] = {2.0f};
    rt_update_sgd(q, h, NULL, 1, 0.5f, 0.0f, 0.0f);
    assert_float_equal(q[0], 0.0, 1e-7);
}

static void adam_ref(double *p, double g, double *m, double *v, double lr, double b1, double b2,
                     double eps, double wd, int decoupled, int t) {
    if (!decoupled) g += wd * *p;
    *m = b1 * *m + (1 - b1) * g;
    *v = b2 * *v + (1 - b2) * g * g;
    double mh = *m / (1 - pow(b1, t)), vh = *v / (1 - pow(b2, t));
    if (decoupled) *p -= lr * wd * *p;
    *p -= lr * mh / (sqrt(vh) + eps);
}

static void test_adam_matches_formula(void **state) {
    (void)state;
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        float p[3] = {0.5f, -1.0f, 2.0f}, m[3] = {0}, v[3] = {0};
        double rp[3] = {0.5, -1.0, 2.0}, rm[3] = {0}, rv[3] = {0};
        for (int step = 0; step < 20; step++) {
            float g[3];
            for (int i = 0; i < 3; i++) g[i] = (float)sin(step + i) * 0.3f + 0.05f * p[i];
            rt_update_adam(p, g, m, v, 3, 0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, decoupled, step);
            for (int i = 0; i < 3; i++)
                adam_ref(&rp[i], g[i], &rm[i], &rv[i], 0.01, 0.9, 0.999, 1e-8, 0.1, decoupled, step + 1);
        }
        for (int i = 0; i < 3; i++) assert_float_equal(p[i], rp[i], 1e-5);
    }
}

/* The dense reference of a sparse gradient: its rows scattered (summed in position
 * order) into a zeroed table-sized gradient; rows out of [0, R) are dropped. */
static void scatter_rows(float *dense_g, int64_t R, int64_t W, const int32_t *rows,
                         const float *grad, int64_t n_rows) {
    memset(dense_g, 0, sizeof(float) * (size_t)(R * W));
    for (int64_t k = 0; k < n_rows; k++)
        if (rows[k] >= 0 && rows[k] < R)
            for (int64_t c = 0; c < W; c++) dense_g[rows[k] * W + c] += grad[k * W + c];
}

/* Plain SGD (no state, no decay) is exact as a sparse update: duplicate rows are
 * summed first (a duplicate applied twice would differ from the dense update only
 * with state, so the stateful optimizers below check that too) and untouched rows
 * are left alone. */
static void test_rows_sum_duplicates(void **state) {
    (void)state;
    enum { R = 5, W = 3, K = 4 };
    float table[R * W], dense_t[R * W], dense_g[R * W];
    for (int i = 0; i < R * W; i++) table[i] = dense_t[i] = (float)i * 0.1f;
    int32_t rows[K] = {3, 1, 3, 99}; /* 99 is out of range: ignored */
    float grad[K * W];
    for (int i = 0; i < K * W; i++) grad[i] = (float)(i + 1);
    scatter_rows(dense_g, R, W, rows, grad, K);
    char scratch[256];
    assert_true(rt_rows_scratch_bytes(K, W) <= sizeof scratch);
    rt_row_grads g = {rows, grad, K};
    assert_true(rt_update_sgd_rows(NULL, table, R, W, &g, 1, NULL, 0.1f, 0.0f, 0.0f, scratch));
    rt_update_sgd(dense_t, dense_g, NULL, R * W, 0.1f, 0.0f, 0.0f);
    assert_memory_equal(table, dense_t, sizeof table);
}

/* Optimizers with state or decay give PyTorch's dense result from a sparse
 * gradient: every row's m, v (or momentum) decays, a row with history keeps moving
 * when the batch does not read it, and decay shrinks every row. Several steps with
 * different rows (duplicates, an out-of-range row, a step that reads none),
 * against the dense update of the scattered gradient, bit for bit, on the calling
 * thread and split over pools of 2 and 3 threads (the table is large enough to
 * split: 3 parts put edges inside runs of untouched rows). */
enum { DENSE_R = 17000, DENSE_W = 48, DENSE_K = 64, DENSE_STEPS = 4 }; /* 3 parts of 2^18 floats */

typedef enum { DENSE_SGD_MOMENTUM, DENSE_SGD_DECAY, DENSE_ADAM_L2, DENSE_ADAMW } dense_opt;

static void dense_step(dense_opt o, float *t, float *s, const float *g, int64_t step) {
    const int64_t n = (int64_t)DENSE_R * DENSE_W;
    switch (o) {
    case DENSE_SGD_MOMENTUM: rt_update_sgd(t, g, s, n, 0.1f, 0.9f, 0.01f); break;
    case DENSE_SGD_DECAY: rt_update_sgd(t, g, NULL, n, 0.1f, 0.0f, 0.01f); break;
    case DENSE_ADAM_L2: rt_update_adam(t, g, s, s + n, n, 0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, false, step); break;
    case DENSE_ADAMW: rt_update_adam(t, g, s, s + n, n, 0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, true, step); break;
    }
}

static bool rows_step(dense_opt o, rt_pool *pool, float *t, float *s, const int32_t *rows,
                      const float *grad, int64_t k, int64_t step) {
    const int64_t n = (int64_t)DENSE_R * DENSE_W;
    rt_row_grads g = {rows, grad, k};
    switch (o) {
    case DENSE_SGD_MOMENTUM:
        return rt_update_sgd_rows(pool, t, DENSE_R, DENSE_W, &g, 1, s, 0.1f, 0.9f, 0.01f, NULL);
    case DENSE_SGD_DECAY:
        return rt_update_sgd_rows(pool, t, DENSE_R, DENSE_W, &g, 1, NULL, 0.1f, 0.0f, 0.01f, NULL);
    case DENSE_ADAM_L2:
    case DENSE_ADAMW:
        return rt_update_adam_rows(pool, t, DENSE_R, DENSE_W, &g, 1, s, s + n, 0.01f, 0.9f,
                                   0.999f, 1e-8f, 0.1f, o == DENSE_ADAMW, step, NULL);
    }
    return false;
}

static void test_rows_dense(void **state) {
    (void)state;
    const int64_t n = (int64_t)DENSE_R * DENSE_W;
    float *t = malloc(sizeof(float) * (size_t)n), *ref = malloc(sizeof(float) * (size_t)n);
    float *s = malloc(sizeof(float) * (size_t)(2 * n)), *rs = malloc(sizeof(float) * (size_t)(2 * n));
    float *dense_g = malloc(sizeof(float) * (size_t)n);
    float grad[DENSE_STEPS][DENSE_K * DENSE_W];
    int32_t rows[DENSE_STEPS][DENSE_K];
    const int64_t count[DENSE_STEPS] = {DENSE_K, DENSE_K, 0, DENSE_K / 2};
    assert_true(t && ref && s && rs && dense_g);
    uint32_t x = 4242;
    for (int st = 0; st < DENSE_STEPS; st++)
        for (int k = 0; k < DENSE_K; k++) {
            x = x * 1664525u + 1013904223u;
            /* rows of step 1 partly repeat step 0's, some rows twice, one past the end */
            rows[st][k] = (int32_t)((x >> 8) % (DENSE_R / 4)) * (st + 1) % DENSE_R;
            if (k == 5) rows[st][k] = DENSE_R + 3;
            if (k == 6) rows[st][k] = -2;
            if (k == 7) rows[st][k] = rows[st][0];
            for (int c = 0; c < DENSE_W; c++) grad[st][k * DENSE_W + c] = (float)sin(st + k * 0.3 + c * 0.7);
        }
    const int threads[] = {0, 2, 3};
    for (int o = DENSE_SGD_MOMENTUM; o <= DENSE_ADAMW; o++) {
        for (int64_t i = 0; i < n; i++) ref[i] = (float)cos(i * 0.01);
        memset(rs, 0, sizeof(float) * (size_t)(2 * n));
        for (int st = 0; st < DENSE_STEPS; st++) {
            scatter_rows(dense_g, DENSE_R, DENSE_W, rows[st], grad[st], count[st]);
            dense_step((dense_opt)o, ref, rs, dense_g, st);
        }
        for (size_t th = 0; th < sizeof threads / sizeof threads[0]; th++) {
            rt_pool *pool = threads[th] ? rt_pool_create(threads[th]) : NULL;
            assert_true(!threads[th] || pool);
            for (int64_t i = 0; i < n; i++) t[i] = (float)cos(i * 0.01);
            memset(s, 0, sizeof(float) * (size_t)(2 * n));
            uint64_t jobs = pool ? rt_pool_jobs(pool) : 0;
            for (int st = 0; st < DENSE_STEPS; st++)
                assert_true(rows_step((dense_opt)o, pool, t, s, rows[st], grad[st], count[st], st));
            if (pool) assert_int_equal((int)(rt_pool_jobs(pool) - jobs), DENSE_STEPS);
            assert_memory_equal(t, ref, sizeof(float) * (size_t)n);
            if (o != DENSE_SGD_DECAY) assert_memory_equal(s, rs, sizeof(float) * (size_t)(o >= DENSE_ADAM_L2 ? 2 * n : n));
            rt_pool_destroy(pool);
        }
    }
    free(t);
    free(ref);
    free(s);
    free(rs);
    free(dense_g);
}

/* The sparse path (plain SGD) on many rows, duplicated in scattered positions, rows
 * above 65,535 (three radix bytes differ), negative and past-the-end rows, given in
 * three parts of the gradient (an empty one between; skip-gram's context table has
 * two): each valid row gets one update with its gradient rows summed in the order
 * of the parts end to end, bit for bit as the dense reference, on the calling thread
 * and split by row over pools of 1, 2, 3 and 5 threads (the update is large enough
 * to split; 5 threads put part edges inside runs of a row). */
static void test_rows_many(void **state) {
    (void)state;
    enum { R = 70000, W = 40, K = 32768, DISTINCT = 300 }; /* 5 parts of 2^18 floats */
    float *table = malloc(sizeof(float) * R * W), *ref = malloc(sizeof(float) * R * W);
    float *grad = malloc(sizeof(float) * K * W);
    int32_t pool[DISTINCT], *rows = malloc(sizeof(int32_t) * K);
    assert_non_null(table);
    assert_non_null(ref);
    assert_non_null(grad);
    assert_non_null(rows);
    uint32_t x = 12345;
    for (int i = 0; i < DISTINCT; i++) {
        x = x * 1664525u + 1013904223u;
        pool[i] = (int32_t)(x % (R + 60)) - 30;
    }
    for (int k = 0; k < K; k++) {
        x = x * 1664525u + 1013904223u;
        rows[k] = pool[(x >> 8) % DISTINCT];
        for (int c = 0; c < W; c++) grad[k * W + c] = (float)sin(k * 0.37 + c) * 0.1f;
    }
    for (int i = 0; i < R * W; i++) table[i] = ref[i] = (float)cos(i * 0.01);
    float sum[W];
    for (int i = 0; i < DISTINCT; i++) {
        int32_t r = pool[i];
        bool seen = false;
        for (int j = 0; j < i; j++) seen = seen || pool[j] == r;
        if (seen || r < 0 || r >= R) continue;
        bool any = false;
        for (int k = 0; k < K; k++) {
            if (rows[k] != r) continue;
            for (int c = 0; c < W; c++) sum[c] = any ? sum[c] + grad[k * W + c] : grad[k * W + c];
            any = true;
        }
        if (any) rt_update_sgd(ref + (int64_t)r * W, sum, NULL, W, 0.1f, 0.0f, 0.0f);
    }
    const int threads[] = {0, 1, 2, 3, 5};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        rt_pool *p = threads[t] ? rt_pool_create(threads[t]) : NULL;
        assert_true(!threads[t] || p);
        for (int i = 0; i < R * W; i++) table[i] = (float)cos(i * 0.01);
        enum { FIRST = 10001 };
        rt_row_grads g[3] = {{rows, grad, FIRST}, {rows + FIRST, grad + (int64_t)FIRST * W, 0},
                             {rows + FIRST, grad + (int64_t)FIRST * W, K - FIRST}};
        assert_true(rt_update_sgd_rows(p, table, R, W, g, 3, NULL, 0.1f, 0.0f, 0.0f, NULL));
        assert_memory_equal(table, ref, sizeof(float) * R * W);
        rt_pool_destroy(p);
    }
    free(table);
    free(ref);
    free(grad);
    free(rows);
}

/* Adam's dense update split by table row: the same bits at 1 and 2 threads, for an update of many
 * duplicated rows (a skip-gram batch of 1,024 pairs: 6,144 rows of 100 into 14,000). */
static void test_rows_adam_threads(void **state) {
    (void)state;
    enum { R = 14000, W = 100, K = 6144 };
    float *grad = malloc(sizeof(float) * K * W);
    int32_t *rows = malloc(sizeof(int32_t) * K);
    float *t[2], *m[2], *v[2];
    assert_non_null(grad);
    assert_non_null(rows);
    uint32_t x = 777;
    for (int k = 0; k < K; k++) {
        x = x * 1664525u + 1013904223u;
        rows[k] = (int32_t)((x >> 8) % 3600); /* ~1.7 occurrences a row */
        for (int c = 0; c < W; c++) grad[k * W + c] = (float)sin(k * 0.11 + c * 0.7);
    }
    rt_row_grads g = {rows, grad, K};
    for (int run = 0; run < 2; run++) {
        t[run] = malloc(sizeof(float) * R * W);
        m[run] = calloc(R * W, sizeof(float));
        v[run] = calloc(R * W, sizeof(float));
        assert_true(t[run] && m[run] && v[run]);
        for (int i = 0; i < R * W; i++) t[run][i] = (float)cos(i * 0.003);
        rt_pool *p = rt_pool_create(run + 1);
        assert_non_null(p);
        for (int step = 0; step < 3; step++)
            assert_true(rt_update_adam_rows(p, t[run], R, W, &g, 1, m[run], v[run], 0.01f,
                                            0.9f, 0.999f, 1e-8f, 0.01f, true, step, NULL));
        rt_pool_destroy(p);
    }
    assert_memory_equal(t[0], t[1], sizeof(float) * R * W);
    assert_memory_equal(m[0], m[1], sizeof(float) * R * W);
    assert_memory_equal(v[0], v[1], sizeof(float) * R * W);
    for (int run = 0; run < 2; run++) {
        free(t[run]);
        free(m[run]);
        free(v[run]);
    }
    free(grad);
    free(rows);
}

static void test_schedules(void **state) {
    (void)state;
    assert_float_equal(rt_schedule_lr(RT_SCHED_CONSTANT, 0.1, 50, 100, 0, 0), 0.1, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_LINEAR, 0.1, 0, 100, 0, 0), 0.1, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_LINEAR, 0.1, 50, 100, 0, 0), 0.05, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_LINEAR, 0.1, 100, 100, 0, 0.1), 0.01, 1e-7); /* to: lr * 0.1 */
    assert_float_equal(rt_schedule_lr(RT_SCHED_COSINE, 0.1, 0, 110, 10, 0), 0.01, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_COSINE, 0.1, 9, 110, 10, 0), 0.1, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_COSINE, 0.1, 10, 110, 10, 0), 0.1, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_COSINE, 0.1, 60, 110, 10, 0), 0.05, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_COSINE, 0.1, 110, 110, 10, 0), 0.0, 1e-7);
}

/* Warm-up from 0 for every kind (step s < N runs at lr (s+1)/N), then the decay
 * over the remaining steps to lr * to. */
static void test_schedule_warmup(void **state) {
    (void)state;
    /* constant(warmup = 4) */
    assert_float_equal(rt_schedule_lr(RT_SCHED_CONSTANT, 0.2, 0, 100, 4, 0), 0.05, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_CONSTANT, 0.2, 2, 100, 4, 0), 0.15, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_CONSTANT, 0.2, 3, 100, 4, 0), 0.2, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_CONSTANT, 0.2, 99, 100, 4, 0), 0.2, 1e-7);
    /* linear(warmup = 10, to = 0): peak at step 9 and 10, half way at 10 + 45 */
    assert_float_equal(rt_schedule_lr(RT_SCHED_LINEAR, 0.1, 4, 100, 10, 0), 0.05, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_LINEAR, 0.1, 10, 100, 10, 0), 0.1, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_LINEAR, 0.1, 55, 100, 10, 0), 0.05, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_LINEAR, 0.1, 100, 100, 10, 0), 0.0, 1e-7);
    /* linear(warmup = 10, to = 0.5) ends at 0.05 */
    assert_float_equal(rt_schedule_lr(RT_SCHED_LINEAR, 0.1, 55, 100, 10, 0.5), 0.075, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_LINEAR, 0.1, 100, 100, 10, 0.5), 0.05, 1e-7);
    /* cosine(warmup = 10, to = 0.1): half way between 0.1 and 0.01 at the middle of the decay */
    assert_float_equal(rt_schedule_lr(RT_SCHED_COSINE, 0.1, 0, 110, 10, 0.1), 0.01, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_COSINE, 0.1, 60, 110, 10, 0.1), 0.055, 1e-7);
    assert_float_equal(rt_schedule_lr(RT_SCHED_COSINE, 0.1, 110, 110, 10, 0.1), 0.01, 1e-7);
    /* a run shorter than its warm-up (--steps) is still warming up at its end */
    assert_float_equal(rt_schedule_lr(RT_SCHED_LINEAR, 0.1, 4, 5, 10, 0), 0.05, 1e-7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd), cmocka_unit_test(test_schedule_warmup),
        cmocka_unit_test(test_adam_matches_formula),
        cmocka_unit_test(test_rows_sum_duplicates),
        cmocka_unit_test(test_rows_dense),
        cmocka_unit_test(test_rows_many),
        cmocka_unit_test(test_rows_adam_threads),
        cmocka_unit_test(test_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
