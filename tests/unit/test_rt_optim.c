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

static void test_rows_sum_duplicates(void **state) {
    (void)state;
    enum { R = 5, W = 3, K = 4 };
    float table[R * W], dense_t[R * W];
    for (int i = 0; i < R * W; i++) table[i] = dense_t[i] = (float)i * 0.1f;
    int32_t rows[K] = {3, 1, 3, 99}; /* 99 is out of range: ignored */
    float grad[K * W];
    for (int i = 0; i < K * W; i++) grad[i] = (float)(i + 1);
    float dense_g[R * W] = {0};
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < W; c++) dense_g[rows[k] * W + c] += grad[k * W + c];
    /* momentum 0.9 and weight decay: a duplicate applied twice would differ */
    float mom[R * W] = {0}, dmom[R * W] = {0};
    assert_true(rt_update_sgd_rows(NULL, table, R, W, rows, grad, K, mom, 0.1f, 0.9f, 0.5f, NULL));
    for (int r = 0; r < R; r++)
        if (r == 1 || r == 3) rt_update_sgd(dense_t + r * W, dense_g + r * W, dmom + r * W, W, 0.1f, 0.9f, 0.5f);
    assert_memory_equal(table, dense_t, sizeof table);

    float m[R * W] = {0}, v[R * W] = {0}, dm[R * W] = {0}, dv[R * W] = {0};
    char scratch[256];
    assert_true(rt_rows_scratch_bytes(K, W) <= sizeof scratch);
    assert_true(rt_update_adam_rows(NULL, table, R, W, rows, grad, K, m, v, 0.01f, 0.9f, 0.999f, 1e-8f,
                                    0.0f, false, 4, scratch));
    for (int r = 0; r < R; r++)
        if (r == 1 || r == 3)
            rt_update_adam(dense_t + r * W, dense_g + r * W, dm + r * W, dv + r * W, W, 0.01f, 0.9f,
                           0.999f, 1e-8f, 0.0f, false, 4);
    assert_memory_equal(table, dense_t, sizeof table);
    assert_true(m[0] == 0.0f && v[2 * W] == 0.0f); /* lazy: untouched rows keep their state */
}

/* Many rows, duplicated in scattered positions, rows above 65,535 (three radix bytes
 * differ), negative and past-the-end rows: each valid row gets one update with its
 * gradient rows summed in position order, bit for bit as the dense reference, on
 * the calling thread and split by row over pools of 1, 2, 3 and 5 threads (the
 * update is large enough to split; 5 threads put part edges inside runs of a row). */
static void test_rows_many(void **state) {
    (void)state;
    enum { R = 70000, W = 40, K = 32768, DISTINCT = 300 }; /* 5 parts of 2^18 floats */
    float *table = malloc(sizeof(float) * R * W), *ref = malloc(sizeof(float) * R * W);
    float *mom = calloc(R * W, sizeof(float)), *rmom = calloc(R * W, sizeof(float));
    float *grad = malloc(sizeof(float) * K * W);
    int32_t pool[DISTINCT], *rows = malloc(sizeof(int32_t) * K);
    assert_non_null(table);
    assert_non_null(ref);
    assert_non_null(mom);
    assert_non_null(rmom);
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
        if (any) rt_update_sgd(ref + (int64_t)r * W, sum, rmom + (int64_t)r * W, W, 0.1f, 0.9f, 0.01f);
    }
    const int threads[] = {0, 1, 2, 3, 5};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        rt_pool *p = threads[t] ? rt_pool_create(threads[t]) : NULL;
        assert_true(!threads[t] || p);
        for (int i = 0; i < R * W; i++) table[i] = (float)cos(i * 0.01);
        memset(mom, 0, sizeof(float) * R * W);
        assert_true(rt_update_sgd_rows(p, table, R, W, rows, grad, K, mom, 0.1f, 0.9f, 0.01f, NULL));
        assert_memory_equal(table, ref, sizeof(float) * R * W);
        assert_memory_equal(mom, rmom, sizeof(float) * R * W);
        rt_pool_destroy(p);
    }
    free(table);
    free(ref);
    free(mom);
    free(rmom);
    free(grad);
    free(rows);
}

/* Lazy Adam split by row: the same bits at 1 and 2 threads, for an update of many
 * duplicated rows (a skip-gram batch of 1,024 pairs: 6,144 rows of 100 into 14,000,
 * large enough to split in two). */
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
    for (int run = 0; run < 2; run++) {
        t[run] = malloc(sizeof(float) * R * W);
        m[run] = calloc(R * W, sizeof(float));
        v[run] = calloc(R * W, sizeof(float));
        assert_true(t[run] && m[run] && v[run]);
        for (int i = 0; i < R * W; i++) t[run][i] = (float)cos(i * 0.003);
        rt_pool *p = rt_pool_create(run + 1);
        assert_non_null(p);
        for (int step = 0; step < 3; step++)
            assert_true(rt_update_adam_rows(p, t[run], R, W, rows, grad, K, m[run], v[run], 0.01f,
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
        cmocka_unit_test(test_rows_many),
        cmocka_unit_test(test_rows_adam_threads),
        cmocka_unit_test(test_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
