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

#include "driver.h"

static char dir[256];

static void write_file(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs the eval stage and reads its one metrics row: masked, by_hand, plain, mean_nll, none. */
static void reports(bool interp, double *r) {
    char path[512];
    snprintf(path, sizeof path, "%s/mask.rl", dir);
    FILE *o = tmpfile(), *e = tmpfile();
    RunOptions opts = {.threads = 1, .quiet = true, .interp = interp};
    if (driver_run(path, &opts, o, e) != 0) {
        char msg[2048];
        rewind(e);
        msg[fread(msg, 1, sizeof msg - 1, e)] = 0;
        fail_msg("rlc run: %s", msg);
    }
    fclose(o);
    fclose(e);
    snprintf(path, sizeof path, "%s/runs/e/metrics.csv", dir);
    FILE *m = fopen(path, "r");
    assert_non_null(m);
    char head[256], line[512], last[512] = "";
    assert_non_null(fgets(head, sizeof head, m));
    assert_string_equal(head, "run,epoch,step,loss,masked,by_hand,plain,mean_nll,none,time\n");
    /* metrics.csv keeps every run: this run's row is the last */
    while (fgets(line, sizeof line, m)) snprintf(last, sizeof last, "%s", line);
    double run, epoch, step, loss;
    assert_int_equal(sscanf(last, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &run, &epoch, &step, &loss, &r[0], &r[1],
                            &r[2], &r[3], &r[4]), 9);
    assert_int_equal((int)run, interp + 1);
    fclose(m);
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
    snprintf(dir, sizeof dir, "/tmp/rlc-mask-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    write_file("l.csv", "a,b,c\n1,2,0.5\n3,-1,2\n0.5,2,-1\n-2,1,0\n");
    write_file("y.csv", "y\n0\n2\n1\n2\n");
    write_file("m.csv", "m\n1\n0\n1\n0\n");
    write_file("mask.rl",
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
    return chdir(dir); /* runs/ is relative to the working directory */
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return chdir("/") == 0 && system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masked_cross_entropy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
