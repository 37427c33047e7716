/* test_determinism.c — runs of a small program through `rlc run` (driver_run, in
 * process) and be_compile + rt_run_program:
 *  - the same seed and thread count give the same run, bit for bit (parameter
 *    files and every metrics value);
 *  - at 1 vs 2 threads the random draws are identical: a stage whose loss
 *    depends on random ops and no matrix product ends bit for bit the same;
 *    one with matrix products (OpenBLAS) only close;
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

static char dir[256];

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

/* A whole file's bytes (NUL-terminated); *len its size. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Runs the whole program at `threads`; its parameter files and metrics (without
 * the time column) are kept under the name `tag`. */
static void run_as(const char *tag, int threads) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s/runs %s/*.rlw", dir, dir);
    assert_int_equal(system(cmd), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/prog.rl", dir);
    FILE *out = tmpfile(), *err = tmpfile();
    RunOptions o = {.threads = threads, .quiet = true};
    int status = driver_run(path, &o, out, err);
    if (status != 0) {
        char msg[2048];
        rewind(err);
        msg[fread(msg, 1, sizeof msg - 1, err)] = 0;
        fail_msg("rlc run: %s", msg);
    }
    fclose(out);
    fclose(err);
    /* metrics: drop the last column (wall time) */
    snprintf(cmd, sizeof cmd,
             "cd %s && for s in noise fit check; do sed 's/,[^,]*$//' runs/$s/metrics.csv > %s.$s.csv; done"
             " && mv noise.rlw %s.noise.params && mv fit.rlw %s.fit.params",
             dir, tag, tag, tag);
    assert_int_equal(system(cmd), 0);
}

static bool same_file(const char *a, const char *b) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    size_t na, nb;
    char *x = slurp(pa, &na), *y = slurp(pb, &nb);
    bool same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* The largest relative difference between the tensors of two parameter files. */
static double max_param_diff(const char *a, const char *b) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    rt_error err = {0};
    rt_ckpt *x = rt_ckpt_read(pa, &err), *y = rt_ckpt_read(pb, &err);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(rt_ckpt_count(x), rt_ckpt_count(y));
    double worst = 0;
    for (int i = 0; i < rt_ckpt_count(x); i++) {
        const rt_tensor_ref *tx = rt_ckpt_tensor(x, i), *ty = rt_ckpt_find(y, tx->name);
        assert_non_null(ty);
        int64_t n = 1;
        for (int d = 0; d < tx->rank; d++) n *= tx->dims[d];
        for (int64_t k = 0; k < n; k++)
            worst = fmax(worst, fabs(tx->data[k] - ty->data[k]) / fmax(fabs(ty->data[k]), 1e-3));
    }
    rt_ckpt_free(x);
    rt_ckpt_free(y);
    return worst;
}

static void test_same_seed_same_threads_same_bits(void **state) {
    (void)state;
    run_as("a", 2);
    run_as("b", 2);
    assert_true(same_file("a.noise.params", "b.noise.params"));
    assert_true(same_file("a.fit.params", "b.fit.params"));
    assert_true(same_file("a.noise.csv", "b.noise.csv"));
    assert_true(same_file("a.fit.csv", "b.fit.csv"));
    assert_true(same_file("a.check.csv", "b.check.csv"));
}

static void test_one_vs_two_threads(void **state) {
    (void)state;
    run_as("t1", 1);
    run_as("t2", 2);
    /* identical random draws, and nothing else that depends on the thread count: every
     * tensor bit for bit (the files differ only in the `threads` their metadata records) */
    assert_true(max_param_diff("t1.noise.params", "t2.noise.params") == 0);
    assert_true(same_file("t1.noise.csv", "t2.noise.csv"));
    /* the same draws again; only OpenBLAS's summation order may differ */
    double d = max_param_diff("t1.fit.params", "t2.fit.params");
    printf("fit: 1 vs 2 threads, max relative parameter difference %.3g\n", d);
    assert_true(d <= 1e-4);
}

static void test_compiled_once_partial_batch_kept(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/prog.rl", dir);
    Compilation c;
    driver_init(&c);
    IrProgram *ir = driver_lower(&c, path);
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
    snprintf(dir, sizeof dir, "/tmp/rlc_determinism_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    char path[512];
    snprintf(path, sizeof path, "%s/points.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "a,b\n");
    for (int i = 0; i < 10; i++) fprintf(f, "%g,%g\n", 0.1 * i, 1.0 - 0.07 * i);
    fclose(f);
    snprintf(path, sizeof path, "%s/prog.rl", dir);
    if (!(f = fopen(path, "w"))) return -1;
    fputs(program, f);
    fclose(f);
    /* save: and runs/ are relative to the working directory */
    return chdir(dir);
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_threads_same_bits),
        cmocka_unit_test(test_one_vs_two_threads),
        cmocka_unit_test(test_compiled_once_partial_batch_kept),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
