/* The trainer with a hand-written step: linear regression on a generated csv,
 * trained with rt_update_sgd. The loss must fall, the last partial batch must run,
 * the checkpoint must load back into an eval stage, validation and metrics must be
 * written, and a step that produces NaN must stop training with a message naming
 * the step while the last good parameter file stays. */
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
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rlrt.h"

static char dir[256], csv[300], save[300], runs[300];

typedef struct linreg {
    int64_t calls, partial, nan_at;
} linreg;

/* x = [a, b, y] per row; pred = w.(a, b) + c; loss = mean((pred - y)^2);
 * dL/dw_j = 2/B sum (pred - y) x_j, dL/dc = 2/B sum (pred - y). */
static void step(void *user, rt_step_ctx *ctx) {
    linreg *u = user;
    u->calls++;
    if (ctx->B < 16) u->partial++;
    const float *x = ctx->inputs[0];
    float *w = ctx->params[0], *c = ctx->params[1];
    float gw[2] = {0, 0}, gc[1] = {0}, loss = 0, mae = 0;
    for (int64_t i = 0; i < ctx->B; i++) {
        float e = w[0] * x[3 * i] + w[1] * x[3 * i + 1] + c[0] - x[3 * i + 2];
        loss += e * e;
        mae += fabsf(e);
        gw[0] += 2 * e * x[3 * i] / (float)ctx->B;
        gw[1] += 2 * e * x[3 * i + 1] / (float)ctx->B;
        gc[0] += 2 * e / (float)ctx->B;
    }
    *ctx->loss = u->nan_at >= 0 && ctx->step >= u->nan_at ? NAN : loss / (float)ctx->B;
    ctx->reports[0] = mae / (float)ctx->B;
    if (ctx->opt_state[0]) { /* an eval stage has no optimizer state */
        rt_update_sgd(w, gw, ctx->opt_state[0], 2, ctx->lr, 0.5f, 0.0f);
        rt_update_sgd(c, gc, ctx->opt_state[1], 1, ctx->lr, 0.5f, 0.0f);
    }
}

static bool explain(void *user, const rt_step_ctx *ctx, char *msg, size_t cap) {
    (void)user;
    snprintf(msg, cap, "node %%7 = log(x) is NaN first (B = %lld)", (long long)ctx->B);
    return true;
}

typedef struct record {
    double loss[16], rep[16];
    int n;
} record;

static void on_epoch(void *user, const char *stage, int64_t epoch, double loss, const double *r, int n) {
    (void)stage, (void)epoch, (void)n;
    record *rec = user;
    rec->loss[rec->n] = loss;
    rec->rep[rec->n++] = r[0];
}

static const rt_param_spec params[2] = {
    {"lin.w", 1, {2}, RT_INIT_NORMAL, 0, 0.1, true},
    {"lin.c", 1, {1}, RT_INIT_ZEROS, 0, 0, true},
};
static const char *inputs[1] = {"x"}, *reports[1] = {"mae"};
static rt_field_spec fld;
static rt_dataset_spec data;

static rt_stage train_stage(linreg *u) {
    return (rt_stage){.name = "fit", .train = true, .dataset = 0, .batch = 16, .epochs = 6, .seed = 3,
                      .save = save, .validate = 1, .n_params = 2, .params = params, .n_inputs = 1,
                      .inputs = inputs, .n_reports = 1, .reports = reports,
                      .opt = {.kind = RT_OPT_SGD, .lr = 0.05, .schedule = RT_SCHED_CONSTANT},
                      .user = u, .step = step, .explain_nonfinite = explain};
}

static rt_stage eval_stage(linreg *u, const char *load) {
    return (rt_stage){.name = "check", .train = false, .dataset = 0, .batch = 32, .load = load,
                      .validate = -1, .n_params = 2, .params = params, .n_inputs = 1, .inputs = inputs,
                      .n_reports = 1, .reports = reports, .user = u, .step = step};
}

static void test_trains_saves_and_loads(void **state) {
    (void)state;
    linreg u = {.nan_at = -1}, ue = {.nan_at = -1};
    rt_stage stages[2] = {train_stage(&u), eval_stage(&ue, NULL)};
    rt_program prog = {"lin.rl", 0xabcdef, 1, &data, 2, stages, 1};
    record rec = {0};
    rt_run_options o = {.quiet = true, .runs_dir = runs, .on_epoch = on_epoch, .on_epoch_user = &rec};
    rt_error err = {0};
    assert_true(rt_run_program(&prog, &o, &err));
    /* 6 epochs of the training stage plus one callback for the eval stage itself */
    assert_int_equal(rec.n, 7);
    /* falls until it reaches the noise floor (noise std 0.01: mse 1e-4) */
    for (int e = 1; e < 4; e++) assert_true(rec.loss[e] < rec.loss[e - 1]);
    assert_true(rec.loss[5] < 1e-3 && rec.loss[0] > 1.0);
    assert_int_equal(u.calls, 6 * 7);   /* 100 rows / 16 = 6 full batches + one of 4 */
    assert_int_equal(u.partial, 6);
    rt_ckpt *c = rt_ckpt_read(save, &err);
    assert_non_null(c);
    const rt_tensor_ref *w = rt_ckpt_find(c, "lin.w");
    assert_true(fabs(w->data[0] - 2.0) < 0.1 && fabs(w->data[1] + 3.0) < 0.1);
    assert_non_null(rt_ckpt_find(c, "__opt__.mom.lin.w"));
    assert_string_equal(rt_ckpt_meta(c, "epoch"), "6");
    assert_string_equal(rt_ckpt_meta(c, "step"), "42");
    assert_string_equal(rt_ckpt_meta(c, "program"), "0000000000abcdef");
    rt_ckpt_free(c);
    /* the metrics file: a header and one row per epoch, validation included */
    char mp[400], line[256];
    snprintf(mp, sizeof mp, "%s/fit/metrics.csv", runs);
    FILE *f = fopen(mp, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "run,epoch,step,loss,mae,check.mae,time\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) rows++;
    fclose(f);
    assert_int_equal(rows, 6);

    /* a fresh program that only evaluates: `load` brings the trained parameters */
    linreg u2 = {.nan_at = -1};
    rt_stage only[1] = {eval_stage(&u2, save)};
    rt_program p2 = {"lin.rl", 1, 1, &data, 1, only, 1};
    record r2 = {0};
    o.on_epoch_user = &r2;
    assert_true(rt_run_program(&p2, &o, &err));
    assert_int_equal(r2.n, 1);
    assert_true(r2.rep[0] < 0.2);
    assert_int_equal(u2.calls, 4);      /* 100 rows in batches of 32 */
}

static void test_nan_stops_and_keeps_last_file(void **state) {
    (void)state;
    linreg u = {.nan_at = 15}, ue = {.nan_at = -1};
    rt_stage stages[2] = {train_stage(&u), eval_stage(&ue, NULL)};
    rt_program prog = {"lin.rl", 1, 1, &data, 2, stages, 1};
    rt_run_options o = {.quiet = true, .runs_dir = runs};
    rt_error err = {0};
    remove(save);
    assert_false(rt_run_program(&prog, &o, &err));
    /* step 15 is batch 2 of epoch 3 (7 batches an epoch) */
    if (!strstr(err.msg, "NaN at step 15 (epoch 3, batch 2)") || !strstr(err.msg, "log(x)") ||
        !strstr(err.msg, "keeps the parameters of epoch 2"))
        fail_msg("message: %s", err.msg);
    rt_ckpt *c = rt_ckpt_read(save, &err);
    assert_non_null(c);
    assert_string_equal(rt_ckpt_meta(c, "epoch"), "2");
    rt_ckpt_free(c);
}

static void test_errors_are_values(void **state) {
    (void)state;
    linreg u = {.nan_at = -1};
    rt_stage s = train_stage(&u);
    s.validate = -1;
    const char *bad_inputs[1] = {"nope"};
    s.inputs = bad_inputs;
    rt_program prog = {"lin.rl", 1, 1, &data, 1, &s, 1};
    rt_run_options o = {.quiet = true, .runs_dir = runs};
    rt_error err = {0};
    assert_false(rt_run_program(&prog, &o, &err));
    assert_non_null(strstr(err.msg, "no field nope"));
    err = (rt_error){0};
    o.stage = "absent";
    assert_false(rt_run_program(&prog, &o, &err));
    assert_non_null(strstr(err.msg, "absent"));
}


/* steps: 10 steps over limit = 50 examples in batches of 16 (3 full + 1 of 2 an
 * epoch) are two whole epochs and two steps of a third; a validate stage runs on
 * the parameters being trained, never its own `load`. */
static void test_steps_limit_and_validate(void **state) {
    (void)state;
    linreg u = {.nan_at = -1}, ue = {.nan_at = -1};
    rt_stage stages[2] = {train_stage(&u), eval_stage(&ue, "/nonexistent/never-read.rlw")};
    stages[0].epochs = 0;
    stages[0].steps = 10;
    stages[0].limit = 50;
    stages[0].save = NULL;
    rt_program prog = {"lin.rl", 1, 1, &data, 2, stages, 1};
    record rec = {0};
    rt_run_options o = {.quiet = true, .runs_dir = runs, .stage = "fit", .on_epoch = on_epoch,
                        .on_epoch_user = &rec};
    rt_error err = {0};
    if (!rt_run_program(&prog, &o, &err)) fail_msg("%s", err.msg);
    assert_int_equal(u.calls, 10);
    assert_int_equal(u.partial, 2);
    assert_int_equal(rec.n, 3);
    assert_int_equal(ue.calls, 3 * 4); /* validation after each of the 3 epochs, 100 rows / 32 */
}

/* A frozen component gets no optimizer state, so the step leaves it alone; and a
 * parameter that goes non-finite while the loss stays finite is caught at the
 * epoch's end, named, and nothing newer is saved. */
static void poison(void *user, rt_step_ctx *ctx) {
    linreg *u = user;
    u->calls++;
    *ctx->loss = 1.0f;
    if (ctx->opt_state[1] && ctx->step == 3) ctx->params[1][0] = NAN;
}

static void test_freeze_and_nonfinite_parameter(void **state) {
    (void)state;
    linreg u = {.nan_at = -1};
    rt_stage s = train_stage(&u);
    s.validate = -1;
    s.save = NULL;
    s.step = poison;
    const char *fr[1] = {"lin"};
    s.freeze = fr;
    s.n_freeze = 1;
    rt_program prog = {"lin.rl", 1, 1, &data, 1, &s, 1};
    rt_run_options o = {.quiet = true, .runs_dir = runs};
    rt_error err = {0};
    assert_true(rt_run_program(&prog, &o, &err)); /* frozen: opt_state NULL, no poison */
    s.n_freeze = 0;
    assert_false(rt_run_program(&prog, &o, &err));
    if (!strstr(err.msg, "parameter lin.c became non-finite at step 3 (epoch 1, batch 4)") || !strstr(err.msg, "log(x)"))
        fail_msg("message: %s", err.msg);
}

/* Many parameter tensors, shared across stages by name: each step adds 1 to
 * every parameter that has optimizer state (the trained ones), so a file's
 * values count the steps each parameter was trained for. The store grows while
 * stages hold their parameters: every tensor must keep its name and values. */
enum { MANY = 40 };
static char many_names[2 * MANY][16];
static rt_param_spec many_specs[2 * MANY];

static void count_steps(void *user, rt_step_ctx *ctx) {
    const rt_stage *s = user;
    *ctx->loss = 1.0f;
    for (int i = 0; i < s->n_params; i++)
        if (ctx->opt_state[i])
            for (int64_t k = 0; k < 3; k++) ctx->params[i][k] += 1.0f;
}

static void test_many_params_across_stages(void **state) {
    (void)state;
    for (int i = 0; i < 2 * MANY; i++) {
        snprintf(many_names[i], sizeof many_names[i], "%s.p%d", i < MANY ? "a" : "b", i % MANY);
        many_specs[i] = (rt_param_spec){many_names[i], 1, {3}, RT_INIT_ZEROS, 0, 0, true};
    }
    char first[320], second[320];
    snprintf(first, sizeof first, "%s/a.rlw", dir);
    snprintf(second, sizeof second, "%s/b.rlw", dir);
    const char *fr[1] = {"a"};
    rt_stage stages[2] = {
        {.name = "first", .train = true, .batch = 50, .epochs = 1, .save = first, .validate = -1,
         .n_params = MANY, .params = many_specs, .n_inputs = 1, .inputs = inputs,
         .opt = {.kind = RT_OPT_ADAM, .lr = 0.1}, .step = count_steps},
        {.name = "second", .train = true, .batch = 25, .epochs = 1, .save = second, .validate = -1,
         .n_freeze = 1, .freeze = fr, .n_params = 2 * MANY, .params = many_specs, .n_inputs = 1,
         .inputs = inputs, .opt = {.kind = RT_OPT_SGD, .lr = 0.1}, .step = count_steps},
    };
    stages[0].user = &stages[0];
    stages[1].user = &stages[1];
    rt_program prog = {"many.rl", 1, 1, &data, 2, stages, 1};
    rt_run_options o = {.quiet = true, .runs_dir = runs};
    rt_error err = {0};
    if (!rt_run_program(&prog, &o, &err)) fail_msg("%s", err.msg);
    rt_ckpt *a = rt_ckpt_read(first, &err), *b = rt_ckpt_read(second, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(rt_ckpt_count(a), 3 * MANY);   /* params, Adam's m and v */
    assert_int_equal(rt_ckpt_count(b), 3 * MANY);   /* a.* frozen, b.* with momentum */
    for (int i = 0; i < 2 * MANY; i++) {
        const rt_tensor_ref *t = rt_ckpt_find(b, many_names[i]);
        if (!t) fail_msg("%s is missing from %s", many_names[i], second);
        /* first: 2 batches of 50; second: 4 batches of 25, a.* frozen there */
        assert_true(t->data[2] == (i < MANY ? 2.0f : 4.0f));
        if (i < MANY) assert_true(rt_ckpt_find(a, many_names[i])->data[0] == 2.0f);
    }
    char mom[32];
    snprintf(mom, sizeof mom, "__opt__.mom.b.p%d", MANY - 1);
    assert_non_null(rt_ckpt_find(b, mom));
    rt_ckpt_free(a);
    rt_ckpt_free(b);
}

static void test_png_grid(void **state) {
    (void)state;
    float img[3 * 4];
    for (int i = 0; i < 12; i++) img[i] = (float)i / 11.0f;
    char p[320];
    snprintf(p, sizeof p, "%s/g.png", dir);
    rt_error err = {0};
    assert_true(rt_png_grid(p, img, 3, 2, 2, 2, &err));
    FILE *f = fopen(p, "rb");
    unsigned char sig[24];
    assert_int_equal(fread(sig, 1, 24, f), 24);
    fclose(f);
    assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
    assert_int_equal(sig[19], 5); /* width: 2 columns of 2 pixels and a gap */
    assert_int_equal(sig[23], 5); /* height: 2 rows */
    assert_false(rt_png_grid(p, img, 0, 2, 2, 2, &err));
}

/* A picture whose write fails part-way (the file-size limit stands in for a full
 * disk) is an error naming the file, and the picture already there stays whole. */
static void test_png_write_failure_keeps_old(void **state) {
    (void)state;
    float small[4] = {0, 0.5f, 1, 0.25f};
    char p[320];
    snprintf(p, sizeof p, "%s/kept.png", dir);
    rt_error err = {0};
    assert_true(rt_png_grid(p, small, 1, 2, 2, 1, &err));
    struct stat before;
    assert_int_equal(stat(p, &before), 0);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {1 << 12, 1 << 12};
        setrlimit(RLIMIT_FSIZE, &lim);
        enum { SIDE = 256 };
        static float noise[SIDE * SIDE];
        uint32_t x = 1;
        for (int i = 0; i < SIDE * SIDE; i++) noise[i] = (float)((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f;
        rt_error child = {0};
        bool ok = rt_png_grid(p, noise, 1, SIDE, SIDE, 1, &child);
        _exit(!ok && strstr(child.msg, p) && strstr(child.msg, "cannot write the picture: File too large") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct stat after;
    assert_int_equal(stat(p, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_ino, before.st_ino);
}

/* A stage whose step has matrix products makes the trainer open their library before the data
 * loads (rt_gemm_prepare), even before any product runs; one without leaves it closed. */
static void test_products_open_their_library_first(void **state) {
    (void)state;
    linreg u = {.nan_at = -1};
    rt_stage stages[1] = {train_stage(&u)};
    stages[0].validate = -1;
    stages[0].save = NULL;
    rt_program prog = {"lin.rl", 0xabcdef, 1, &data, 1, stages, 1};
    rt_run_options o = {.quiet = true, .runs_dir = runs, .steps = 2};
    rt_error err = {0};
    if (!rt_run_program(&prog, &o, &err)) fail_msg("%s", err.msg);
    assert_false(rt_gemm_loaded());
    stages[0].products = true;
    if (!rt_run_program(&prog, &o, &err)) fail_msg("%s", err.msg);
    assert_true(rt_gemm_loaded());
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rt_trainer_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(csv, sizeof csv, "%s/points.csv", dir);
    snprintf(save, sizeof save, "%s/lin.rlw", dir);
    snprintf(runs, sizeof runs, "%s/runs", dir);
    FILE *f = fopen(csv, "w");
    fprintf(f, "a,b,y\n");
    rt_rng r;
    rt_rng_init(&r, 1, 2, 3);
    for (int i = 0; i < 100; i++) {
        double a = rt_rng_normal(&r), b = rt_rng_normal(&r);
        fprintf(f, "%.6f,%.6f,%.6f\n", a, b, 2 * a - 3 * b + 0.5 + 0.01 * rt_rng_normal(&r));
    }
    fclose(f);
    fld = (rt_field_spec){.name = "x", .rank = 1, .dims = {3}, .kind = RT_SRC_CSV, .path = "points.csv",
                          .columns = 3};
    data = (rt_dataset_spec){.name = "points", .base_dir = dir, .n_fields = 1, .fields = &fld};
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products_open_their_library_first),
        cmocka_unit_test(test_trains_saves_and_loads),
        cmocka_unit_test(test_nan_stops_and_keeps_last_file),
        cmocka_unit_test(test_errors_are_values),
        cmocka_unit_test(test_steps_limit_and_validate),
        cmocka_unit_test(test_freeze_and_nonfinite_parameter),
        cmocka_unit_test(test_many_params_across_stages),
        cmocka_unit_test(test_png_grid),
        cmocka_unit_test(test_png_write_failure_keeps_old),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
