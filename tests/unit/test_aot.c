/* rlc build's pieces that need no linker: the generated C (literals escaped,
 * doubles exact, workspace sizes and dim checks as planned), and the runtime's
 * side of a trainer — data-bound dims checked before the first step, the step
 * log and the --steps override. tests/aot/run.sh covers the whole build. */
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

#include "aot.h"

static void test_source_literals(void **state) {
    (void)state;
    rt_field_spec field = {.name = "x", .rank = 1, .dims = {4}, .kind = RT_SRC_CSV,
                           .path = "a\"b\\c?\n.csv", .columns = 4, .n_ops = 1,
                           .ops = {{'/', false, 255}}};
    rt_dataset_spec ds = {.name = "d", .base_dir = "/nonexistent/dir", .n_fields = 1, .fields = &field};
    rt_param_spec p = {.name = "w", .rank = 2, .dims = {4, 3}, .init = RT_INIT_UNIFORM, .a = -0.1, .b = 1e300};
    const char *inputs[] = {"x"}, *reports[] = {"acc"}, *freeze[] = {"enc"};
    rt_stage st = {.name = "fit", .train = true, .dataset = 0, .batch = 8, .epochs = 2, .seed = 18446744073709551615ull,
                   .validate = -1, .n_params = 1, .params = &p, .n_inputs = 1, .inputs = inputs,
                   .n_reports = 1, .reports = reports, .n_freeze = 1, .freeze = freeze,
                   .opt = {.kind = RT_OPT_ADAM, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}};
    IrGraph graph = {0};   /* no nodes: the non-finite table holds only its end */
    KernelPlan plan = {.g = &graph, .workspace = {{64, 128, 192}}};
    BackendStage bs = {.plan = &plan};
    Backend b = {.stages = &bs,
                 .prog = {.name = "t.rl", .hash = 42, .n_datasets = 1, .datasets = &ds, .n_stages = 1, .stages = &st}};
    rt_dim_check check = {.dataset = 0, .property = "vocab", .value = 10};
    StrBuf out = {0};
    aot_program_source(&b, &check, 1, &out);
    const char *want[] = {
        "\"a\\\"b\\\\c\\077\\012.csv\"",            /* quote, backslash, '?' and newline escaped */
        ".lr = 0.10000000000000001",                  /* %.17g: the same double back */
        ".b = 1.0000000000000001e+300",
        ".seed = 18446744073709551615ULL",
        ".ops = {{47, 0, 255}}",
        "(192LL * B + 128LL) * B + 64LL",             /* c2*B^2 + c1*B + c0 */
        "void rlc_step_0(rt_step_ctx *ctx);",
        "freeze_0[] = {\"enc\", NULL}",
        ".n_freeze = 1, .freeze = freeze_0",
        "{.dataset = 0, .property = \"vocab\", .value = 10LL}",
        "rt_trainer_main(&program, dim_checks, 1, argc, argv)",
        ".base_dir = \"/nonexistent/dir\"",          /* kept when it cannot be made absolute */
        ".save_every = 0LL",
        "int rlc_nonfinite_0(rt_step_ctx *ctx);",     /* the checker, and the hook that runs it */
        ".explain_nonfinite = explain_0}",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        if (!strstr(out.data, want[i])) fail_msg("generated C lacks %s:\n%s", want[i], out.data);
    }
    sb_free(&out);
}

/* A sequences dataset reaches the trainer with its corpus options. */
static void test_sequences_spec_travels(void **state) {
    (void)state;
    rt_field_spec field = {.name = "ids", .is_i32 = true, .rank = 1, .dims = {33}, .kind = RT_SRC_TEXT,
                           .path = "brown/"};
    rt_dataset_spec ds = {.name = "brown", .base_dir = "/nonexistent/dir", .n_fields = 1, .fields = &field,
                          .text_path = "brown/", .lowercase = true, .min_count = 10, .char_unit = true,
                          .sequences = true, .seq_length = 33, .seq_stride = 32};
    Backend b = {.prog = {.name = "t.rl", .n_datasets = 1, .datasets = &ds}};
    StrBuf out = {0};
    aot_program_source(&b, NULL, 0, &out);
    const char *want[] = {".text_path = \"brown/\"", ".lowercase = 1, .min_count = 10LL",
                          ".char_unit = 1, .sequences = 1, .seq_length = 33LL, .seq_stride = 32LL"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(out.data, want[i])) fail_msg("generated C lacks %s:\n%s", want[i], out.data);
    sb_free(&out);
}

/* A step that needs no parameters: the loss is the step number. */
static void count_step(void *user, rt_step_ctx *ctx) {
    (void)user;
    *ctx->loss = (float)ctx->step + 0.5f;
}

static char dir[64];

static void test_dim_checks_and_step_log(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rlc-test-aot-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char toks[128], logp[128];
    snprintf(toks, sizeof toks, "%s/t.txt", dir);
    snprintf(logp, sizeof logp, "%s/steps.log", dir);
    FILE *f = fopen(toks, "w");
    assert_non_null(f);
    for (int i = 0; i < 20; i++) fprintf(f, "%d %d\n", 1 + i % 9, i % 4);   /* largest id 9: vocab 10 */
    fclose(f);
    rt_field_spec field = {.name = "x", .is_i32 = true, .rank = 1, .dims = {2}, .kind = RT_SRC_TOKENS,
                           .path = toks, .length = 2};
    rt_dataset_spec ds = {.name = "toks", .base_dir = dir, .n_fields = 1, .fields = &field};
    const char *inputs[] = {"x"};
    rt_stage st = {.name = "s", .train = true, .dataset = 0, .batch = 4, .epochs = 1, .validate = -1,
                   .n_inputs = 1, .inputs = inputs, .opt = {.kind = RT_OPT_SGD, .lr = 0.1},
                   .step = count_step};
    rt_program prog = {.name = "t.rl", .n_datasets = 1, .datasets = &ds, .n_stages = 1, .stages = &st};
    char runs[128];
    snprintf(runs, sizeof runs, "%s/runs", dir);

    rt_dim_check good = {.dataset = 0, .property = "vocab", .value = 10};
    FILE *log = fopen(logp, "w");
    assert_non_null(log);
    rt_run_options o = {.quiet = true, .runs_dir = runs, .steps = 7, .step_log = log,
                        .dim_checks = &good, .n_dim_checks = 1};
    rt_error err = {0};
    bool ok = rt_run_program(&prog, &o, &err);
    fclose(log);
    if (!ok) fail_msg("%s", err.msg);
    /* --steps 7 crosses into a second epoch of 5 batches; one line per step */
    f = fopen(logp, "r");
    assert_non_null(f);
    char line[200];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char want[64];
        snprintf(want, sizeof want, "s %d %d.5\n", n, n);
        assert_string_equal(line, want);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 7);

    rt_dim_check stale = {.dataset = 0, .property = "vocab", .value = 12};
    o = (rt_run_options){.quiet = true, .runs_dir = runs, .dim_checks = &stale, .n_dim_checks = 1};
    err = (rt_error){0};
    assert_false(rt_run_program(&prog, &o, &err));
    if (!strstr(err.msg, "its vocab is 10 in this data, but the steps were compiled for 12") ||
        !strstr(err.msg, "rlc build t.rl"))
        fail_msg("unexpected message: %s", err.msg);

    unlink(toks);
    unlink(logp);
    snprintf(line, sizeof line, "%s/s/metrics.csv", runs);
    unlink(line);
    snprintf(line, sizeof line, "%s/s", runs);
    rmdir(line);
    rmdir(runs);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_literals), cmocka_unit_test(test_sequences_spec_travels),
        cmocka_unit_test(test_dim_checks_and_step_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
