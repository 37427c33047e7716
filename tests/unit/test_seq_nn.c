/* test_seq_nn.c — what std.nn's sequence layers compute (rl-language.md §8.3),
 * through `rlc run` (driver_run, in process), compiled and interpreted:
 * causal_mask is 1 where the key position is at most the query position; with
 * it, attention's first query sees only the first value; a causal `mha` gives
 * the same outputs at positions before a change to a later input, and a
 * non-causal one does not; einsum equals its products written out as sums. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

enum { N_REPORTS = 10 };

/* Runs the eval stage and reads its one metrics row (the reports in order). */
static void reports(bool interp, double *r) {
    char path[512];
    snprintf(path, sizeof path, "%s/seq.rl", dir);
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
    assert_string_equal(head, "run,epoch,step,loss,cells,below,above,first,causal_past,causal_last,full_past,einsum_qk,einsum_perm,"
                                     "einsum_size,time\n");
    /* metrics.csv keeps every run: this run's row is the last */
    while (fgets(line, sizeof line, m)) snprintf(last, sizeof last, "%s", line);
    double run, epoch, step, loss;
    assert_int_equal(sscanf(last, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &run, &epoch, &step, &loss,
                            &r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &r[7], &r[8], &r[9]), 4 + N_REPORTS);
    assert_int_equal((int)run, interp + 1);
    fclose(m);
}

static void test_attention_and_einsum(void **state) {
    (void)state;
    for (int interp = 0; interp < 2; interp++) {
        double r[N_REPORTS];
        reports(interp, r);
        assert_true(r[0] == 10);       /* 4 + 3 + 2 + 1 ones in a causal_mask(4) */
        assert_true(r[1] == 1);        /* key 1 <= query 2 */
        assert_true(r[2] == 0);        /* key 2 > query 1 */
        assert_true(r[3] < 1e-6);      /* the first query attends to the first key alone */
        assert_true(r[4] < 1e-5);      /* causal: the past does not see the change at position 2 */
        assert_true(r[5] > 0.1);       /* ... position 2 does */
        assert_true(r[6] > 0.1);       /* not causal: every position sees it */
        assert_true(r[7] < 1e-5);      /* einsum's batched product: q k^T written out */
        assert_true(r[8] < 1e-5);      /* ... and a result in another order */
        assert_true(r[9] == 3 * 4 * 3); /* [T, B, T] */
    }
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rlc-seq-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    write_file("h.csv", "c0,c1,c2,c3,c4,c5,c6,c7,c8,c9,c10,c11\n-0.731,0.695,0.528,-0.490,-0.009,-0.101,0.303,0.577,-0.812,-0.943,0.672,-0.134\n0.525,-0.996,-0.109,0.443,-0.542,0.891,0.803,-0.939,-0.949,0.083,0.878,-0.238\n-0.567,-0.156,-0.942,-0.557,-0.124,-0.008,-0.534,-0.538,-0.562,-0.081,-0.420,-0.957\n0.675,0.113,0.285,-0.628,0.985,0.720,-0.758,-0.335,0.443,0.422,0.873,-0.156\n");
    write_file("seq.rl",
               "use std.nn\n"
               "dataset d { h: [12] = csv(\"h.csv\", columns = 12) }\n"
               "encoder causal(h: [B, 3, 4]) -> [B, 3, 4] = mha(h, 2, causal = true)\n"
               "encoder full(h: [B, 3, 4]) -> [B, 3, 4] = mha(h, 2)\n"
               "eval e {\n"
               "    data: d\n"
               "    batch: 4\n"
               "    x = reshape(h, [B, 3, 4])\n"
               "    later = reshape(arange(3), [1, 3, 1]) == 2\n"
               "    y = x + later * 5\n"
               "    v = reshape(x[:, :, 2:4], [B, 1, 3, 2])\n"
               "    q = reshape(x[:, :, 0:2], [B, 1, 3, 2])\n"
               "    report cells = sum(causal_mask(4))\n"
               "    report below = causal_mask(4)[2, 1]\n"
               "    report above = causal_mask(4)[1, 2]\n"
               "    report first = sum(abs(attention(q, q, v, causal_mask(3))[:, :, 0, :] - v[:, :, 0, :]))\n"
               "    report causal_past = sum(abs(causal(x)[:, 0:2, :] - causal(y)[:, 0:2, :]))\n"
               "    report causal_last = sum(abs(causal(x)[:, 2, :] - causal(y)[:, 2, :]))\n"
               "    report full_past = sum(abs(full(x)[:, 0:2, :] - full(y)[:, 0:2, :]))\n"
               "    report einsum_qk = sum(abs(einsum(\"bhtd,bhsd->bhts\", q, v)\n"
               "                           - sum(reshape(q, [B, 1, 3, 1, 2]) * reshape(v, [B, 1, 1, 3, 2]), axis = -1)))\n"
               "    report einsum_perm = sum(abs(einsum(\"btd,bsd->sbt\", x, y)\n"
               "                             - transpose(sum(reshape(x, [B, 3, 1, 4]) * reshape(y, [B, 1, 3, 4]), axis = -1), [2, 0, 1])))\n"
               "    report einsum_size = sum(einsum(\"btd,bsd->sbt\", x, y) * 0 + 1)\n"
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
        cmocka_unit_test(test_attention_and_einsum),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
