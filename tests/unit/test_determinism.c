/* test_determinism.c — runs of a small program through `rlc run` (driver_run, in
 * process) and be_compile + rt_run_program:
 *  - the same seed and thread count give the same run, bit for bit (parameter
 *    files and every metrics value);
 *  - at 1 vs 2 threads the random draws are identical, and rlc's own kernels
 *    and every matrix product below rt_sgemm's split size give the same bits:
 *    both stages end bit for bit the same;
 *  - a matrix product split over 2, 3 or 4 threads is within the stated bound
 *    of the one-call product, element by element, at every transpose and at
 *    shapes that hit the library's edge and small-matrix kernels (run it on oneDNN
 *    and under each OPENBLAS_CORETYPE with RLC_GEMM=openblas: scripts/test.sh does);
 *  - each stage is compiled once, before its first step, and the last partial
 *    batch of every epoch runs through that code: 10 rows at batch 4 are steps
 *    of 4, 4 and 2 rows, none dropped. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "driver.h"
#include "scratch.h"

static const char *program =
    "use std.nn\n"
    "\n"
    "dataset d {\n"
    "    x: [2] = csv(\"points.csv\", columns = 2)\n"
    "}\n"
    "\n"
    "encoder f(x: [B, 2]) -> [B, 2] = dense(relu(dense(x, 16)), 2)\n"
    "\n"
    "# Random ops and elementwise math only: no matrix product.\n"
    "train noise {\n"
    "    data:      d\n"
    "    batch:     4\n"
    "    epochs:    3\n"
    "    optimizer: adam(lr = 0.01)\n"
    "    save:      \"noise.rlw\"\n"
    "    param w: [2] = zeros\n"
    "    e = x * bernoulli(0.5, [B, 2]) + normal(0, 1, [B, 2]) - w\n"
    "    minimize mean(e * e)\n"
    "}\n"
    "\n"
    "train fit {\n"
    "    data:      d\n"
    "    batch:     4\n"
    "    epochs:    3\n"
    "    optimizer: adam(lr = 0.01)\n"
    "    save:      \"fit.rlw\"\n"
    "    validate:  check\n"
    "    e = f(x * bernoulli(0.8, [B, 2])) - x\n"
    "    minimize mean(e * e)\n"
    "}\n"
    "\n"
    "eval check {\n"
    "    data:  d\n"
    "    batch: 4\n"
    "    e = f(x) - x\n"
    "    report err = mean(e * e)\n"
    "}\n";

/* Runs the whole program at `threads`; its parameter files and metrics (without
 * the time column) are kept under the name `tag`. */
static void run_as(const char *tag, int threads) {
    assert_int_equal(system("rm -rf runs *.rlw"), 0);
    RunOptions o = {.threads = threads, .quiet = true};
    scratch_run_ok("prog.rl", &o);
    /* metrics: drop the last column (wall time) */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "for s in noise fit check; do sed 's/,[^,]*$//' runs/$s/metrics.csv > %s.$s.csv; done"
             " && mv noise.rlw %s.noise.params && mv fit.rlw %s.fit.params",
             tag, tag, tag);
    assert_int_equal(system(cmd), 0);
}

/* Every tensor of two parameter files, name, shape and bits; their metadata
 * may differ (it records the thread count a run used). */
static bool same_tensors(const char *a, const char *b) {
    rt_error err = {0};
    rt_ckpt *x = rt_ckpt_read(a, &err), *y = rt_ckpt_read(b, &err);
    assert_non_null(x);
    assert_non_null(y);
    bool same = rt_ckpt_count(x) == rt_ckpt_count(y);
    for (int i = 0; same && i < rt_ckpt_count(x); i++) {
        const rt_tensor_ref *tx = rt_ckpt_tensor(x, i), *ty = rt_ckpt_find(y, tx->name);
        same = ty && tx->rank == ty->rank;
        int64_t n = 1;
        for (int d = 0; same && d < tx->rank; d++) {
            same = tx->dims[d] == ty->dims[d];
            n *= tx->dims[d];
        }
        same = same && memcmp(tx->data, ty->data, (size_t)n * sizeof(float)) == 0;
    }
    rt_ckpt_free(x);
    rt_ckpt_free(y);
    return same;
}

static void test_same_seed_same_threads_same_bits(void **state) {
    (void)state;
    run_as("a", 2);
    run_as("b", 2);
    assert_true(scratch_same_file("a.noise.params", "b.noise.params"));
    assert_true(scratch_same_file("a.fit.params", "b.fit.params"));
    assert_true(scratch_same_file("a.noise.csv", "b.noise.csv"));
    assert_true(scratch_same_file("a.fit.csv", "b.fit.csv"));
    assert_true(scratch_same_file("a.check.csv", "b.check.csv"));
}

static void test_one_vs_two_threads(void **state) {
    (void)state;
    run_as("t1", 1);
    run_as("t2", 2);
    /* identical random draws, and nothing else that depends on the thread count: every
     * tensor bit for bit (the files differ only in the `threads` their metadata records) */
    assert_true(same_tensors("t1.noise.params", "t2.noise.params"));
    assert_true(scratch_same_file("t1.noise.csv", "t2.noise.csv"));
    /* products of 4 x 2 x 16 multiply-adds: far below rt_sgemm's split, one call each */
    assert_true(same_tensors("t1.fit.params", "t2.fit.params"));
    assert_true(scratch_same_file("t1.fit.csv", "t2.fit.csv"));
    assert_true(scratch_same_file("t1.check.csv", "t2.check.csv"));
}

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Values in +-[2^-8, 2^8), signs mixed: sums that cancel, and terms of unequal size. */
static void fill_mixed(float *x, int64_t n, uint64_t *s) {
    for (int64_t i = 0; i < n; i++) {
        double m = 1.0 + (double)lcg(s) / 2147483648.0;
        int e = (int)(lcg(s) % 17) - 8;
        x[i] = (float)(ldexp(m, e) * (lcg(s) & 1 ? -1 : 1));
    }
}

/* Each element of C = op(A) op(B) is one float sum of K products, in an order
 * (with or without FMA) that the kernel OpenBLAS picks for the call's shape
 * fixes. For any order, |fl(c) - c| <= gamma_K sum_k |a_ik||b_kj| (Higham,
 * Accuracy and Stability of Numerical Algorithms, 2nd ed., sec. 3.1), gamma_K =
 * K u / (1 - K u), u = 2^-24, plus at most 2^-126 per operation where results
 * underflow. rt_sgemm never splits K, so a split product and the one-call product
 * are two such sums: they differ by at most 2 gamma_K sum |a||b| + 2 K 2^-126.
 * Checked element by element against the one-call product, and each against the
 * exact sum (in double, itself within K 2^-53 sum |a||b|), at every transpose,
 * at shapes split by rows and by columns, with edges that are not multiples of
 * the kernels' tiles, K past OpenBLAS's K-blocking, and on 2, 3 and 4 threads. */
static void test_split_product_within_bound(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {
        {4801, 32, 64}, {4801, 64, 32}, {64, 4801, 32}, {2001, 97, 53},
        {300, 40, 1000}, {33, 130000, 2}, {257, 300, 300}, {12000, 20, 40},
    };
    rt_pool *one = rt_pool_create(1); /* OpenBLAS on one thread, as in every run */
    rt_pool *pools[3] = {rt_pool_create(2), rt_pool_create(3), rt_pool_create(4)};
    const double u = ldexp(1, -24), tiny = ldexp(1, -126);
    uint64_t seed = 99;
    double worst_split = 0, worst_exact = 0;
    int64_t differing = 0, compared = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        int64_t M = shapes[sh][0], N = shapes[sh][1], K = shapes[sh][2];
        float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
        float *C1 = malloc(sizeof(float) * (size_t)(M * N)), *Cp = malloc(sizeof(float) * (size_t)(M * N));
        double *exact = malloc(sizeof(double) * (size_t)(M * N)), *mag = malloc(sizeof(double) * (size_t)(M * N));
        fill_mixed(A, M * K, &seed);
        fill_mixed(B, K * N, &seed);
        double gamma = K * u / (1 - K * u);
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            int64_t lda = ta ? M : K, ldb = tb ? K : N;
            rt_sgemm(one, ta, tb, M, N, K, A, lda, B, ldb, C1, N);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double sum = 0, abs_sum = 0;
                    for (int64_t k = 0; k < K; k++) {
                        double ab = (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
                        sum += ab;
                        abs_sum += fabs(ab);
                    }
                    exact[i * N + j] = sum;
                    mag[i * N + j] = abs_sum;
                }
            for (int p = 0; p < 3; p++) {
                rt_sgemm_profile(true);
                rt_sgemm(pools[p], ta, tb, M, N, K, A, lda, B, ldb, Cp, N);
                assert_int_equal((int)rt_sgemm_split_calls(), 1);
                rt_sgemm_profile(false);
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double one_call = C1[i * N + j], split = Cp[i * N + j], m = mag[i * N + j];
                        double split_bound = 2 * gamma * m + 2 * (double)K * tiny;
                        double exact_bound = (gamma + (double)K * ldexp(1, -53)) * m + (double)K * tiny;
                        double ds = fabs(split - one_call), de = fabs(one_call - exact[i * N + j]);
                        if (!(ds <= split_bound) || !(de <= exact_bound))
                            fail_msg("%lld x %lld x %lld, trans %d%d, %d threads, C[%lld][%lld]: split %.9g, "
                                     "one call %.9g, exact %.9g; bounds %.3g, %.3g",
                                     (long long)M, (long long)N, (long long)K, ta, tb, p + 2, (long long)i,
                                     (long long)j, split, one_call, exact[i * N + j], split_bound, exact_bound);
                        worst_split = fmax(worst_split, ds / split_bound);
                        worst_exact = fmax(worst_exact, de / exact_bound);
                        differing += ds != 0;
                        compared++;
                    }
            }
        }
        free(A), free(B), free(C1), free(Cp), free(exact), free(mag);
    }
    printf("split products: %lld of %lld elements differ from the one-call product; largest "
           "difference %.3g of the bound; one call vs exact: %.3g of its bound\n",
           (long long)differing, (long long)compared, worst_split, worst_exact);
    for (int p = 0; p < 3; p++) rt_pool_destroy(pools[p]);
    rt_pool_destroy(one);
}

static void test_compiled_once_partial_batch_kept(void **state) {
    (void)state;
    Compilation c;
    driver_init(&c);
    IrProgram *ir = driver_lower(&c, "prog.rl");
    assert_non_null(ir);
    Backend be;
    StrBuf why = {0};
    assert_true(be_compile(&be, &c.arena, ir, false, &why));
    for (int i = 0; i < ir->stages.len; i++) assert_int_equal(be.stages[i].compiles, 1);
    rt_run_options o = {.quiet = true, .threads = 2, .runs_dir = "runs"};
    rt_error err = {0};
    if (!rt_run_program(&be.prog, &o, &err)) fail_msg("%s", err.msg);
    for (int i = 0; i < ir->stages.len; i++) {
        const BackendStage *s = &be.stages[i];
        /* never recompiled, whatever the batch sizes the data gave */
        assert_int_equal(s->compiles, 1);
        if (strcmp(s->ir->name, "check") == 0) {
            /* 3 validations and its own run, of 3 batches each (4, 4, 2 rows) */
            assert_int_equal(s->steps, 12);
            assert_int_equal(s->rows, 40);
        } else {
            /* 3 epochs of 3 steps: the partial batch of 2 rows runs in each */
            assert_int_equal(s->steps, 9);
            assert_int_equal(s->rows, 30);
        }
    }
    be_free(&be);
    sb_free(&why);
    driver_free(&c);
}

static int setup(void **state) {
    (void)state;
    if (scratch_enter("determinism") != 0) return -1;
    FILE *f = fopen("points.csv", "w");
    if (!f) return -1;
    fprintf(f, "a,b\n");
    for (int i = 0; i < 10; i++) fprintf(f, "%g,%g\n", 0.1 * i, 1.0 - 0.07 * i);
    fclose(f);
    scratch_write("prog.rl", program);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return scratch_leave();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_threads_same_bits),
        cmocka_unit_test(test_one_vs_two_threads),
        cmocka_unit_test(test_split_product_within_bound),
        cmocka_unit_test(test_compiled_once_partial_batch_kept),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
