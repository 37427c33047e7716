/* Philox-4x32-10 against Random123's known-answer vectors, the determinism the
 * runtime promises (element i depends only on seed, stream, step, i), and rough
 * statistics of each distribution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rlrt.h"

static void test_philox_known_answers(void **state) {
    (void)state;
    /* Random123 kat_vectors: philox4x32 10 rounds. */
    static const uint32_t v[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int t = 0; t < 3; t++) {
        uint32_t out[4];
        rt_philox4x32(v[t], v[t] + 4, out);
        for (int i = 0; i < 4; i++) assert_int_equal(out[i], v[t][6 + i]);
    }
}

static void test_fill_any_range_is_identical(void **state) {
    (void)state;
    enum { N = 1001 };
    int kinds[] = {RT_RAND_BERNOULLI, RT_RAND_NORMAL, RT_RAND_UNIFORM, RT_RAND_RANDINT};
    for (int k = 0; k < 4; k++) {
        float whole[N], parts[N];
        rt_random_fill(kinds[k], whole, 0, N, 0.5, 10.0, 42, 7, 3);
        /* ranges with odd boundaries, in reverse order, as threads might. */
        int64_t cuts[] = {0, 3, 5, 6, 400, 777, N};
        for (int c = 5; c >= 0; c--)
            rt_random_fill(kinds[k], parts, cuts[c], cuts[c + 1], 0.5, 10.0, 42, 7, 3);
        assert_memory_equal(whole, parts, sizeof whole);
        float other[N];
        rt_random_fill(kinds[k], other, 0, N, 0.5, 10.0, 42, 7, 4);
        assert_true(memcmp(whole, other, sizeof whole) != 0); /* the step matters */
        rt_random_fill(kinds[k], other, 0, N, 0.5, 10.0, 42, 8, 3);
        assert_true(memcmp(whole, other, sizeof whole) != 0); /* so does the stream */
    }
}

/* Every element against the documented scheme computed here one block at a time:
 * uniform, bernoulli and randint exactly; the normal (Box-Muller with the fill's own
 * log, sine and cosine polynomials) against double precision, within 2 ulp of the
 * radius (the pair's scale). The range starts and ends inside a block. */
static void test_fill_matches_definition(void **state) {
    (void)state;
    enum { N = 1 << 17, LO = 37 };
    float *x = malloc(N * sizeof *x);
    assert_non_null(x);
    uint32_t key[2];
    rt_philox_key(99, 5, key);
    const uint64_t step = 0x100000002ull; /* both counter words of the step in use */
    int kinds[] = {RT_RAND_BERNOULLI, RT_RAND_NORMAL, RT_RAND_UNIFORM, RT_RAND_RANDINT};
    double worst = 0;
    for (int k = 0; k < 4; k++) {
        rt_random_fill(kinds[k], x, LO, N - 3, 0.25, 3.0, 99, 5, step);
        int32_t *iv = (int32_t *)x;
        for (int64_t i = LO; i < N - 3; i++) {
            uint32_t ctr[4] = {(uint32_t)(i / 4), 0, (uint32_t)step, (uint32_t)(step >> 32)}, l[4];
            rt_philox4x32(ctr, key, l);
            uint32_t lane = l[i % 4];
            float u = (float)(lane >> 8) * (1.0f / 16777216.0f);
            if (kinds[k] == RT_RAND_BERNOULLI) assert_true(x[i] == (u < 0.25f ? 1.0f : 0.0f));
            if (kinds[k] == RT_RAND_UNIFORM) assert_true(x[i] == 0.25f + 2.75f * u);
            if (kinds[k] == RT_RAND_RANDINT) assert_int_equal(iv[i], (int32_t)(((uint64_t)lane * 3) >> 32));
            if (kinds[k] == RT_RAND_NORMAL) {
                int p = (int)(i % 4) / 2;
                double u0 = ((double)(l[2 * p] >> 8) + 1.0) / 16777216.0;
                double t = 2.0 * 3.14159265358979323846 * (double)(l[2 * p + 1] >> 8) / 16777216.0;
                double rad = sqrt(-2.0 * log(u0));
                double want = 0.25 + 3.0 * rad * (i % 2 ? sin(t) : cos(t));
                double ulp = ldexp(1.0, -23) * 3.0 * (rad > 1.0 ? rad : 1.0);
                double err = fabs(x[i] - want) / ulp;
                if (err > worst) worst = err;
            }
        }
    }
    assert_true(worst <= 2.0);
    free(x);
}

static void moments(const float *x, int64_t n, double *mean, double *var) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
    *var = ss / (double)n;
}

static void test_statistics(void **state) {
    (void)state;
    enum { N = 200000 };
    float *x = malloc(N * sizeof *x);
    double mean, var;
    rt_random_fill(RT_RAND_NORMAL, x, 0, N, 1.5, 2.0, 1, 2, 3);
    moments(x, N, &mean, &var);
    assert_true(fabs(mean - 1.5) < 0.03);
    assert_true(fabs(var - 4.0) < 0.08);
    rt_random_fill(RT_RAND_UNIFORM, x, 0, N, -1.0, 3.0, 1, 2, 3);
    moments(x, N, &mean, &var);
    assert_true(fabs(mean - 1.0) < 0.02);
    assert_true(fabs(var - 16.0 / 12.0) < 0.03);
    for (int i = 0; i < N; i++) assert_true(x[i] >= -1.0f && x[i] < 3.0f);
    rt_random_fill(RT_RAND_BERNOULLI, x, 0, N, 0.3, 0.0, 1, 2, 3);
    moments(x, N, &mean, &var);
    assert_true(fabs(mean - 0.3) < 0.01);
    int32_t *iv = (int32_t *)x;
    rt_random_fill(RT_RAND_RANDINT, iv, 0, N, -2, 5, 1, 2, 3);
    int counts[7] = {0};
    for (int i = 0; i < N; i++) {
        assert_true(iv[i] >= -2 && iv[i] < 5);
        counts[iv[i] + 2]++;
    }
    for (int c = 0; c < 7; c++) assert_true(abs(counts[c] - N / 7) < N / 70);
    free(x);
}

static void test_rng_stream_and_shuffle(void **state) {
    (void)state;
    rt_rng a, b;
    rt_rng_init(&a, 9, 1, 0);
    rt_rng_init(&b, 9, 1, 0);
    for (int i = 0; i < 100; i++) assert_int_equal(rt_rng_u32(&a), rt_rng_u32(&b));
    /* the stream is the same generator as rt_random_fill's randint over the full range */
    uint32_t blk[4], ctr[4] = {0, 0, 0, 0}, key[2];
    rt_philox_key(9, 1, key);
    rt_philox4x32(ctr, key, blk);
    rt_rng_init(&a, 9, 1, 0);
    assert_int_equal(rt_rng_u32(&a), blk[0]);
    int64_t p[50], q[50];
    for (int i = 0; i < 50; i++) p[i] = q[i] = i;
    rt_rng_init(&a, 3, 0, 0);
    rt_rng_init(&b, 3, 0, 0);
    rt_rng_shuffle(&a, p, 50);
    rt_rng_shuffle(&b, q, 50);
    assert_memory_equal(p, q, sizeof p);
    int seen[50] = {0}, moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[p[i]]++;
        moved += p[i] != i;
    }
    for (int i = 0; i < 50; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 25);
    for (int i = 0; i < 1000; i++) assert_true(rt_rng_below(&a, 7) < 7);
}

static void test_init_by_name(void **state) {
    (void)state;
    int64_t dims[2] = {300, 100};
    float *w = malloc(30000 * sizeof *w), *w2 = malloc(30000 * sizeof *w2);
    rt_init_param(w, dims, 2, RT_INIT_GLOROT, 0, 0, 5, "enc.dense0.w");
    float other[10];
    int64_t d1[1] = {10};
    rt_init_param(other, d1, 1, RT_INIT_NORMAL, 0, 1, 5, "enc.dense0.b"); /* order is irrelevant */
    rt_init_param(w2, dims, 2, RT_INIT_GLOROT, 5, 0, 5, "enc.dense0.w");
    assert_memory_equal(w, w2, 30000 * sizeof *w);
    double l = sqrt(6.0 / 400.0), mean, var;
    for (int i = 0; i < 30000; i++) assert_true(fabs(w[i]) <= l);
    moments(w, 30000, &mean, &var);
    assert_true(fabs(var - l * l / 3) < 0.1 * l * l / 3);
    rt_init_param(w2, dims, 2, RT_INIT_GLOROT, 0, 0, 5, "enc.dense1.w");
    assert_true(memcmp(w, w2, 30000 * sizeof *w) != 0);
    rt_init_param(w, dims, 2, RT_INIT_HE, 0, 0, 5, "x");
    moments(w, 30000, &mean, &var);
    assert_true(fabs(var - 2.0 / 300) < 0.1 * 2.0 / 300);
    rt_init_param(w, dims, 2, RT_INIT_VALUE, 2.66, 0, 5, "t");
    assert_true(w[0] == 2.66f && w[29999] == 2.66f);
    rt_init_param(w, dims, 2, RT_INIT_ONES, 0, 0, 5, "t");
    assert_true(w[123] == 1.0f);
    free(w);
    free(w2);
}

static void test_shift2d(void **state) {
    (void)state;
    enum { n = 64, h = 5, w = 6 };
    float in[n * h * w], out[n * h * w];
    for (int i = 0; i < n * h * w; i++) in[i] = (float)(i % (h * w)) + 1.0f;
    rt_shift2d(out, in, n, h, w, 2, 1, 2, 3);
    int shifted = 0;
    for (int j = 0; j < n; j++) {
        /* every image is its source moved by one (dy, dx) in [-2, 2]^2, zeros elsewhere */
        int found = 0;
        for (int dy = -2; dy <= 2 && !found; dy++)
            for (int dx = -2; dx <= 2 && !found; dx++) {
                int ok = 1;
                for (int y = 0; y < h && ok; y++)
                    for (int x = 0; x < w && ok; x++) {
                        int sy = y - dy, sx = x - dx;
                        float want = sy >= 0 && sy < h && sx >= 0 && sx < w ? in[j * h * w + sy * w + sx] : 0;
                        ok = out[j * h * w + y * w + x] == want;
                    }
                if (ok) found = 1, shifted += dy != 0 || dx != 0;
            }
        assert_true(found);
    }
    assert_true(shifted > n / 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers), cmocka_unit_test(test_fill_any_range_is_identical),
        cmocka_unit_test(test_statistics),          cmocka_unit_test(test_rng_stream_and_shuffle),
        cmocka_unit_test(test_init_by_name),        cmocka_unit_test(test_shift2d),
        cmocka_unit_test(test_fill_matches_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
