/* test_nonfinite.c — training that blows up, end to end through `rlc run`
 * (driver_run, in process): the message names the step and the .rl line:col of
 * the first IR node that is not finite, forward or backward; the exit status is
 * 1; the parameter file of the last good epoch is kept and loads finite.
 *
 * Both programs run one step per epoch (2 rows, batch 2) under plain SGD on one
 * scalar parameter w = 1, so the failing step is worked out by hand:
 *  - log:  minimize log(w), lr = 0.3: w' = w - 0.3/w gives 1, 0.7, 0.2714,
 *          -0.8339; step 3 takes log(-0.8339) = NaN, a forward value. Epoch 3's
 *          file keeps w = -0.8339.
 *  - sqrt: minimize sqrt(w), lr = 2: w' = w - 1/sqrt(w) gives 1, 0; step 1 has a
 *          finite loss sqrt(0) = 0 but the gradient 1/(2 sqrt(0)) is infinite, so
 *          w becomes -inf. Found at the epoch's end, the epoch is replayed and the
 *          message blames the backward node of step 1, not the spoiled w. Epoch
 *          1's file keeps w = 0.
 * The log program at batch 1 and lr = 0.15 (two steps an epoch: w = 1, 0.85,
 * 0.6735, 0.4508, 0.1181, -1.152) fails at step 5, batch 2 of epoch 3, the same at
 * 2 threads, where each step runs beside the fill of the next batch. */
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

#include "scratch.h"
#include "rlrt.h"

/* Runs `rlc run NAME --threads N`; returns the exit status, stderr in msg. */
static int rlc_run_threads(const char *name, char *msg, size_t cap, bool interp, int threads) {
    RunOptions o = {.threads = threads, .quiet = true, .interp = interp};
    return scratch_run(name, &o, msg, cap);
}

static int rlc_run(const char *name, char *msg, size_t cap, bool interp) {
    return rlc_run_threads(name, msg, cap, interp, 1);
}

/* The value of the one parameter in a parameter file. */
static float saved_w(const char *file, const char *param) {
    rt_error err = {0};
    rt_ckpt *c = rt_ckpt_read(file, &err);
    if (!c) fail_msg("%s", err.msg);
    const rt_tensor_ref *t = rt_ckpt_find(c, param);
    assert_non_null(t);
    float w = t->data[0];
    rt_ckpt_free(c);
    return w;
}

#define PROGRAM(LR, SAVE, LOSS)                                                                    \
    "dataset d {\n"                                                                                \
    "    x: [2] = csv(\"points.csv\", columns = 2)\n"                                              \
    "}\n"                                                                                          \
    "\n"                                                                                           \
    "train blow {\n"                                                                               \
    "    data:      d\n"                                                                           \
    "    batch:     2\n"                                                                           \
    "    epochs:    10\n"                                                                          \
    "    optimizer: sgd(lr = " LR ")\n"                                                            \
    "    save:      \"" SAVE "\"\n"                                                                \
    "    param w: f32 = 1\n"                                                                       \
    "    minimize " LOSS " + 0 * mean(x)\n"                                                        \
    "}\n"

#define PROGRAM_B1(SAVE)                                                                           \
    "dataset d {\n"                                                                                \
    "    x: [2] = csv(\"points.csv\", columns = 2)\n"                                              \
    "}\n"                                                                                          \
    "\n"                                                                                           \
    "train blow {\n"                                                                               \
    "    data:      d\n"                                                                           \
    "    batch:     1\n"                                                                           \
    "    epochs:    10\n"                                                                          \
    "    optimizer: sgd(lr = 0.15)\n"                                                             \
    "    save:      \"" SAVE "\"\n"                                                                \
    "    param w: f32 = 1\n"                                                                       \
    "    minimize log(w) + 0 * mean(x)\n"                                                          \
    "}\n"

static void expect_in(const char *msg, const char *part) {
    if (!strstr(msg, part)) fail_msg("expected \"%s\" in: %s", part, msg);
}

static void check_log(bool interp) {
    scratch_write("log.rl", PROGRAM("0.3", "log.rlw", "log(w)"));
    char msg[2048];
    assert_int_equal(rlc_run("log.rl", msg, sizeof msg, interp), 1);
    printf("%s", msg);
    expect_in(msg, "the loss is NaN at step 3 (epoch 4, batch 1)");
    expect_in(msg, "the value of `log(w)` (");
    expect_in(msg, "log.rl:12:14");
    expect_in(msg, "log.rlw keeps the parameters of epoch 3");
    float w = saved_w("log.rlw", "blow.w");
    assert_true(isfinite(w));
    assert_float_equal(w, 0.2714286f - 0.3f / 0.2714286f, 1e-5);
}

static void test_log_forward(void **state) { (void)state; check_log(false); }
static void test_log_forward_interp(void **state) { (void)state; check_log(true); }

static void test_sqrt_backward(void **state) {
    (void)state;
    scratch_write("sqrt.rl", PROGRAM("2", "sqrt.rlw", "sqrt(w)"));
    char msg[2048];
    assert_int_equal(rlc_run("sqrt.rl", msg, sizeof msg, false), 1);
    printf("%s", msg);
    expect_in(msg, "parameter blow.w became non-finite at step 1 (epoch 2, batch 1)");
    expect_in(msg, "the gradient of `sqrt(w)` (");
    expect_in(msg, "sqrt.rl:12:14");
    expect_in(msg, "sqrt.rlw keeps the parameters of epoch 1");
    float w = saved_w("sqrt.rlw", "blow.w");
    assert_true(w == 0.0f);
}

/* Batch 1, two steps an epoch: at 2 threads each step runs while the pool's worker
 * fills the next batch (trainer.c, prefetch), and the step that fails is replayed
 * after it. The report and the saved parameter are those of the 1-thread run. */
static void test_log_forward_prefetching(void **state) {
    (void)state;
    scratch_write("logb1.rl", PROGRAM_B1("logb1.rlw"));
    char msg[2][2048];
    float w[2];
    for (int t = 0; t < 2; t++) {
        assert_int_equal(rlc_run_threads("logb1.rl", msg[t], sizeof msg[t], false, t + 1), 1);
        w[t] = saved_w("logb1.rlw", "blow.w");
    }
    printf("%s", msg[1]);
    expect_in(msg[1], "the loss is NaN at step 5 (epoch 3, batch 2)");
    assert_string_equal(msg[0], msg[1]);
    assert_true(w[0] == w[1]);
}

/* A NaN in the data file: an error when the data loads, naming the file and line,
 * before any step runs. */
static void test_nan_in_data(void **state) {
    (void)state;
    scratch_write("nan.csv", "a,b\n0.5,nan\n0.25,0.75\n");
    scratch_write("nan.rl",
               "dataset d { x: [2] = csv(\"nan.csv\", columns = 2) }\n"
               "train t {\n    data: d\n    batch: 2\n    optimizer: sgd(lr = 0.1)\n"
               "    param w: f32 = 1\n    minimize w * mean(x)\n}\n");
    char msg[2048];
    assert_int_equal(rlc_run("nan.rl", msg, sizeof msg, false), 1);
    printf("%s", msg);
    expect_in(msg, "nan.csv:2: value 2 is not a finite f32: 'nan'");
}

static int setup(void **state) {
    (void)state;
    if (scratch_enter("nonfinite") != 0) return -1;
    scratch_write("points.csv", "a,b\n0.5,0.5\n0.25,0.75\n");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return scratch_leave();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_forward),
        cmocka_unit_test(test_log_forward_interp),
        cmocka_unit_test(test_sqrt_backward),
        cmocka_unit_test(test_log_forward_prefetching),
        cmocka_unit_test(test_nan_in_data),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
