/* test_clip.c — `clip_grad_norm: X` through `rlc run` (driver_run, in process).
 * One plain-SGD step at lr = 1 moves the parameters by minus their gradients,
 * so the unclipped step gives the gradients and their global norm n (a dense
 * matrix and an embedding table whose rows gradient has a duplicate row). Then:
 * X = n / 2 must move every parameter by the same step times X / (n + 1e-6);
 * X = 2 n must leave the step exactly as it was; and the interpreter (the
 * oracle) must take the clipped step the compiled one takes. */
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


enum { NW = 6, NE = 15, N = NW + NE };

/* Runs one step of the program with `clip_grad_norm: clip` (none when clip <= 0)
 * and returns w then e, as saved, in out. */
static void step(double clip, bool interp, float *out) {
    char clip_line[64] = "";
    if (clip > 0) snprintf(clip_line, sizeof clip_line, "    clip_grad_norm: %.9g\n", clip);
    char prog[1024];
    snprintf(prog, sizeof prog,
             "dataset d {\n"
             "    x: [2] = csv(\"p.csv\", columns = 2)\n"
             "    k: i32 = csv(\"k.csv\", columns = 1)\n"
             "}\n"
             "train t {\n"
             "    data: d\n"
             "    batch: 4\n"
             "    steps: 1\n"
             "    optimizer: sgd(lr = 1)\n"
             "%s"
             "    save: \"%s/clip.rlw\"\n"
             "    param w: [2, 3] = normal(0, 1)\n"
             "    param e: [5, 3] = normal(0, 1)\n"
             "    minimize mean((x @ w - e[k]) ^ 2)\n"
             "}\n",
             clip_line, scratch_dir());
    scratch_write("clip.rl", prog);
    RunOptions opts = {.threads = 1, .quiet = true, .interp = interp};
    scratch_run_ok("clip.rl", &opts);
    rt_error err = {0};
    rt_ckpt *c = rt_ckpt_read("clip.rlw", &err);
    if (!c) fail_msg("%s", err.msg);
    const rt_tensor_ref *w = rt_ckpt_find(c, "t.w"), *t = rt_ckpt_find(c, "t.e");
    assert_non_null(w);
    assert_non_null(t);
    memcpy(out, w->data, NW * sizeof *out);
    memcpy(out + NW, t->data, NE * sizeof *out);
    rt_ckpt_free(c);
}

static void test_clip_grad_norm(void **state) {
    (void)state;
    /* the parameters before the step: initialised from the seed and the name */
    float init[N];
    int64_t wd[2] = {2, 3}, ed[2] = {5, 3};
    rt_init_param(init, wd, 2, RT_INIT_NORMAL, 0, 1, 0, "t.w");
    rt_init_param(init + NW, ed, 2, RT_INIT_NORMAL, 0, 1, 0, "t.e");

    float plain[N], clipped[N], loose[N], oracle[N];
    step(0, false, plain);
    double norm = 0;
    for (int i = 0; i < N; i++) norm += ((double)plain[i] - init[i]) * ((double)plain[i] - init[i]);
    norm = sqrt(norm);
    assert_true(norm > 0.1);

    double x = norm / 2;
    step(x, false, clipped);
    double scale = x / (norm + 1e-6);
    for (int i = 0; i < N; i++) {
        double want = init[i] + ((double)plain[i] - init[i]) * scale;
        if (fabs(clipped[i] - want) > 1e-5 * (1 + fabs(want)))
            fail_msg("element %d: clipped step gives %.9g, want %.9g (norm %g)", i, clipped[i], want, norm);
    }
    /* the table's untouched rows (0 and 2) do not move */
    for (int c = 0; c < 3; c++) {
        assert_true(clipped[NW + 0 * 3 + c] == init[NW + 0 * 3 + c]);
        assert_true(clipped[NW + 2 * 3 + c] == init[NW + 2 * 3 + c]);
    }

    step(2 * norm, false, loose);
    assert_memory_equal(loose, plain, sizeof plain);

    step(x, true, oracle);
    for (int i = 0; i < N; i++)
        if (fabs(oracle[i] - clipped[i]) > 1e-6 * (1 + fabs(clipped[i])))
            fail_msg("element %d: interpreter %.9g, compiled %.9g", i, oracle[i], clipped[i]);
}

static int setup(void **state) {
    (void)state;
    if (scratch_enter("clip") != 0) return -1;
    scratch_write("p.csv", "a,b\n1,2\n3,-1\n0.5,2\n-2,1\n");
    scratch_write("k.csv", "k\n1\n3\n1\n4\n");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return scratch_leave();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_grad_norm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
