/* test_masked_loss.c — cross_entropy(logits, y, mask = m) through `rlc run`
 * (driver_run, in process), compiled and interpreted: the mean of the per-position
 * losses where m is 1 (against the same sum written out in .rl), the plain mean
 * when no mask is given, and 0 (not NaN) for a mask of zeros. */
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

/* Runs the eval stage and reads its one metrics row: masked, by_hand, plain, mean_nll, none. */
static void reports(bool interp, double *r) {
    RunOptions opts = {.threads = 1, .quiet = true, .interp = interp};
    scratch_run_ok("mask.rl", &opts);
    double row[9];
    scratch_last_metrics("e", "run,epoch,step,loss,masked,by_hand,plain,mean_nll,none,time", row, 9);
    assert_int_equal((int)row[0], interp + 1);  /* metrics.csv keeps every run */
    memcpy(r, row + 4, 5 * sizeof *r);
}

static void test_masked_cross_entropy(void **state) {
    (void)state;
    for (int interp = 0; interp < 2; interp++) {
        double r[5];
        reports(interp, r);
        assert_true(r[0] > 0.1);
        assert_float_equal(r[0], r[1], 1e-5);    /* sum(nll m) / sum(m) */
        assert_true(fabs(r[0] - r[2]) > 0.1);     /* the mask matters here */
        assert_float_equal(r[2], r[3], 1e-5);    /* no mask: the mean */
        assert_true(r[4] == 0);                   /* all zeros: 0, not NaN */
    }
}

static int setup(void **state) {
    (void)state;
    if (scratch_enter("mask") != 0) return -1;
    scratch_write("l.csv", "a,b,c\n1,2,0.5\n3,-1,2\n0.5,2,-1\n-2,1,0\n");
    scratch_write("y.csv", "y\n0\n2\n1\n2\n");
    scratch_write("m.csv", "m\n1\n0\n1\n0\n");
    scratch_write("mask.rl",
               "use std.loss\n"
               "use std.nn\n"
               "dataset d {\n"
               "    l: [3] = csv(\"l.csv\", columns = 3)\n"
               "    y: i32 = csv(\"y.csv\", columns = 1)\n"
               "    m: f32 = csv(\"m.csv\", columns = 1)\n"
               "}\n"
               "eval e {\n"
               "    data: d\n"
               "    batch: 4\n"
               "    nll = -sum(one_hot(y, 3) * log_softmax(l), axis = -1)\n"
               "    report masked = cross_entropy(l, y, mask = m)\n"
               "    report by_hand = sum(nll * m) / sum(m)\n"
               "    report plain = cross_entropy(l, y)\n"
               "    report mean_nll = mean(nll)\n"
               "    report none = cross_entropy(l, y, mask = m * 0)\n"
               "}\n");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return scratch_leave();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masked_cross_entropy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
