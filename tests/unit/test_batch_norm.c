/* test_batch_norm.c — batch_norm's IR (lower_image.c, lower_batch_norm) run by the
 * reference interpreter against a hand computation from PyTorch's definition:
 *
 * 1. train, images [B, C, H, W]: the output is normalised with each channel's mean and
 *    biased variance over B, H and W, and after three steps on different batches the
 *    running statistics are running = (1 - m) running + m batch (unbiased variance);
 * 2. train, vectors [B, D]: the same per feature over B;
 * 3. eval: the running statistics normalise, and the step assigns nothing; pictures of a
 *    train stage (the interpreter's mean_masks) normalise with them too.
 * The gradient through the batch statistics is checked by tests/gradcheck/nn_batch_norm.rl
 * and the compiled step against the interpreter by test_image_ops.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "lower.h"

enum { B = 3, C = 2, H = 2, W = 3, STEPS = 3 };
#define MOMENTUM 0.25
#define EPS 1e-3

typedef struct Bn {
    Arena arena;
    IrGraph *g;
    int y;
    float gamma[C], beta[C], mean[C], var[C];
} Bn;

/* x [B, C, H, W] (rank 4) or [B, C] (rank 2) through batch_norm; params in IrGraph order. */
static void bn_build(Bn *t, int rank, bool batch_stats) {
    memset(t, 0, sizeof *t);
    t->g = ir_graph_new(&t->arena, "t");
    IrDim xd[4] = {ir_dim_batch(), ir_dim_const(C), ir_dim_const(H), ir_dim_const(W)};
    int x = ir_add_input(t->g, (IrInput){"d", "x", ir_shape(rank, xd), IR_F32, 0});
    IrShape cs = ir_shape(1, &xd[1]);
    const char *names[4] = {"bn.g", "bn.b", "bn.mean", "bn.var"};
    int p[4];
    for (int i = 0; i < 4; i++)
        p[i] = ir_add_param(t->g, (IrParam){.name = names[i], .component = "bn", .shape = cs,
                                            .init = INIT_ZEROS, .state = i >= 2});
    t->y = lower_batch_norm(t->g, x, p[0], p[1], p[2], p[3], MOMENTUM, EPS, batch_stats, (Span){0});
    StrBuf why = {0};
    if (!ir_verify(t->g, &why)) fail_msg("%s", why.data);
    for (int c = 0; c < C; c++) {
        t->gamma[c] = 1.5f - (float)c;
        t->beta[c] = 0.25f * (float)(c + 1);
        t->mean[c] = 0.5f * (float)c - 0.2f;
        t->var[c] = 2.0f + (float)c;
    }
}

static float input_value(int step, int64_t i) { return (float)sin(0.7 * (double)i + 1.3 * step) * (1 + step); }

/* One step on batch `step`: the output (interp_run, eval-like with mean_masks) and the state
 * updates (interp_step). */
static void bn_step(Bn *t, int step, int64_t n, float *x, double *out, bool mean_masks) {
    for (int64_t i = 0; i < n; i++) x[i] = input_value(step, i);
    void *inputs[1] = {x};
    float *params[4] = {t->gamma, t->beta, t->mean, t->var};
    InterpRun r = {.g = t->g, .B = B, .f32 = true, .mean_masks = mean_masks, .params_f32 = params,
                   .inputs = inputs};
    assert_true(interp_run(&r));
    memcpy(out, r.v[t->y], sizeof(double) * (size_t)n);
    interp_run_free(&r);
    rt_step_ctx ctx = {.B = B, .params = params, .inputs = inputs};
    assert_true(interp_step(t->g, &ctx));
}

static void expect_near(double got, double want, const char *what, int k) {
    if (fabs(got - want) > 1e-5 * fmax(1, fabs(want)))
        fail_msg("%s [%d]: %.9g, expected %.9g", what, k, got, want);
}

/* Per channel c of x ([B, C, S] flattened, S = per-row extent): mean, biased and unbiased variance. */
static void channel_stats(const float *x, int S, int c, double *mean, double *biased, double *unbiased) {
    double sum = 0, sq = 0;
    int count = B * S;
    for (int b = 0; b < B; b++)
        for (int s = 0; s < S; s++) sum += x[(b * C + c) * S + s];
    *mean = sum / count;
    for (int b = 0; b < B; b++)
        for (int s = 0; s < S; s++) {
            double d = x[(b * C + c) * S + s] - *mean;
            sq += d * d;
        }
    *biased = sq / count;
    *unbiased = sq / (count - 1);
}

static void check_train(int rank) {
    Bn t;
    bn_build(&t, rank, true);
    int S = rank == 4 ? H * W : 1;
    int64_t n = (int64_t)B * C * S;
    float x[B * C * H * W];
    double out[B * C * H * W];
    double run_mean[C], run_var[C];
    for (int c = 0; c < C; c++) {
        run_mean[c] = t.mean[c];
        run_var[c] = t.var[c];
    }
    for (int step = 0; step < STEPS; step++) {
        bn_step(&t, step, n, x, out, false);
        for (int c = 0; c < C; c++) {
            double mu, biased, unbiased;
            channel_stats(x, S, c, &mu, &biased, &unbiased);
            for (int b = 0; b < B; b++)
                for (int s = 0; s < S; s++) {
                    int i = (b * C + c) * S + s;
                    expect_near(out[i], (x[i] - mu) / sqrt(biased + EPS) * t.gamma[c] + t.beta[c], "output", i);
                }
            run_mean[c] = (1 - MOMENTUM) * run_mean[c] + MOMENTUM * mu;
            run_var[c] = (1 - MOMENTUM) * run_var[c] + MOMENTUM * unbiased;
        }
    }
    for (int c = 0; c < C; c++) {
        expect_near(t.mean[c], run_mean[c], "running mean", c);
        expect_near(t.var[c], run_var[c], "running var", c);
    }
    arena_free(&t.arena);
}

static void test_train_images(void **state) { (void)state; check_train(4); }
static void test_train_vectors(void **state) { (void)state; check_train(2); }

/* An eval stage's batch_norm, then a picture of a train stage's. */
static void check_running(bool train_picture) {
    for (int rank = 2; rank <= 4; rank += 2) {
        Bn t;
        bn_build(&t, rank, train_picture);
        int S = rank == 4 ? H * W : 1;
        int64_t n = (int64_t)B * C * S;
        float x[B * C * H * W], mean0[C], var0[C];
        double out[B * C * H * W];
        memcpy(mean0, t.mean, sizeof mean0);
        memcpy(var0, t.var, sizeof var0);
        bn_step(&t, 0, n, x, out, train_picture);
        for (int64_t i = 0; i < n; i++) {
            int c = (int)(i / S % C);
            expect_near(out[i], (x[i] - mean0[c]) / sqrt(var0[c] + EPS) * t.gamma[c] + t.beta[c], "eval output",
                        (int)i);
        }
        if (!train_picture) {
            /* nothing assigned */
            assert_memory_equal(t.mean, mean0, sizeof mean0);
            assert_memory_equal(t.var, var0, sizeof var0);
            for (int i = 0; i < t.g->nodes.len; i++) assert_int_not_equal(t.g->nodes.items[i].op, IR_UPDATE);
        }
        arena_free(&t.arena);
    }
}

static void test_eval_uses_running_statistics(void **state) { (void)state; check_running(false); }
static void test_pictures_use_running_statistics(void **state) { (void)state; check_running(true); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_images),
        cmocka_unit_test(test_train_vectors),
        cmocka_unit_test(test_eval_uses_running_statistics),
        cmocka_unit_test(test_pictures_use_running_statistics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
