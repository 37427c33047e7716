/* perf_step.c — how long a compiled step takes, and where the time goes.
 *
 *   perf_step FILE.rl [--stage NAME] [--batch B] [--steps N] [--threads N]
 *
 * Compiles FILE.rl the way `rlc run` does, timing each phase (front end and
 * lowering; then per stage fuse_plan, cg_emit, jit_compile), then runs N steps
 * of one stage (default: the first train stage) on random parameters and inputs
 * at batch B (default: the stage's) with a pool of N threads (default 1). No
 * dataset is read for the steps, so only the step itself is timed.
 *
 * Prints ms/step (best and median: the machine may be shared) and the share of
 * the step spent inside rt_sgemm, measured over the fastest half of the steps.
 * The products run on rt_gemm's library (oneDNN, or OpenBLAS with RLC_GEMM=openblas, its kernels
 * following OPENBLAS_CORETYPE); the line says which it used. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "driver.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of this thread: what a phase costs when the machine is shared. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static double uniform(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

typedef struct Sample {
    double step, sgemm, cpu;
} Sample;

static int by_step(const void *a, const void *b) {
    double x = ((const Sample *)a)->step, y = ((const Sample *)b)->step;
    return (x > y) - (x < y);
}

static int usage(void) {
    fprintf(stderr, "usage: perf_step FILE.rl [--stage NAME] [--batch B] [--steps N] [--threads N]\n");
    return 2;
}

/* Random parameters, zero optimizer state, random inputs (f32 in [0, 1), i32 in
 * [0, rows) with rows the smallest first dimension of a rank-2 parameter). */
static void fill_ctx(const IrGraph *g, int64_t B, rt_step_ctx *c) {
    int64_t rows = 1 << 30;
    float **params = calloc((size_t)g->params.len + 1, sizeof *params);
    float **state = calloc((size_t)g->params.len + 1, sizeof *state);
    for (int i = 0; i < g->params.len; i++) {
        const IrShape *s = &g->params.items[i].shape;
        int64_t n = ir_shape_numel(s, B);
        if (s->rank == 2 && s->d[0].c < rows) rows = s->d[0].c;
        params[i] = malloc(sizeof(float) * (size_t)n + 1);
        for (int64_t k = 0; k < n; k++) params[i][k] = (float)(0.1 * (uniform() - 0.5));
        state[i] = calloc(2 * (size_t)n + 1, sizeof(float));
    }
    void **inputs = calloc((size_t)g->inputs.len + 1, sizeof *inputs);
    for (int i = 0; i < g->inputs.len; i++) {
        const IrInput *in = &g->inputs.items[i];
        int64_t n = ir_shape_numel(&in->shape, B);
        if (in->dtype == IR_I32) {
            int32_t *v = malloc(sizeof(int32_t) * (size_t)n + 1);
            for (int64_t k = 0; k < n; k++) v[k] = (int32_t)(uniform() * (double)rows);
            inputs[i] = v;
        } else {
            float *v = malloc(sizeof(float) * (size_t)n + 1);
            for (int64_t k = 0; k < n; k++) v[k] = (float)uniform();
            inputs[i] = v;
        }
    }
    c->params = params;
    c->opt_state = state;
    c->inputs = inputs;
    c->lr = (float)g->optim.lr;
}

int main(int argc, char **argv) {
    const char *path = NULL, *stage = NULL;
    int64_t batch = 0, steps = 200;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stage") && i + 1 < argc) stage = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else return usage();
    }
    if (!path || steps < 1 || threads < 1) return usage();

    Compilation c;
    driver_init(&c);
    double t0 = now(), c0 = cpu_now();
    IrProgram *ir = driver_lower(&c, path);
    double t_front = now() - t0;
    diag_print(&c.diags, stderr);
    if (!ir) return 1;
    StrBuf why = {0};
    Jit *jit = jit_new(&why);
    if (!jit) {
        fprintf(stderr, "%s\n", why.data);
        return 1;
    }
    double t_plan = 0, t_emit = 0, t_jit = 0;
    int chosen = -1;
    RlcStepFn chosen_fn = NULL;
    KernelPlan *chosen_plan = NULL;
    for (int i = 0; i < ir->stages.len; i++) {
        const IrStage *st = &ir->stages.items[i];
        double a = now();
        KernelPlan *plan = fuse_plan(&c.arena, st->graph, &why);
        double b = now();
        char name[32];
        snprintf(name, sizeof name, "step_%d", i);
        LLVMModuleRef m = plan ? cg_emit(plan, jit_context(jit), name, &why) : NULL;
        double d = now();
        RlcStepFn fn = m ? jit_compile(jit, m, name, &why) : NULL;
        double e = now();
        if (!fn) {
            fprintf(stderr, "%s: stage %s: %s\n", path, st->name, why.data ? why.data : "failed");
            return 1;
        }
        t_plan += b - a, t_emit += d - b, t_jit += e - d;
        bool want = stage ? !strcmp(st->name, stage) : chosen < 0 && st->is_train;
        if (want) chosen = i, chosen_fn = fn, chosen_plan = plan;
    }
    printf("%s: compile %.0f ms wall, %.0f ms cpu (front+lower %.0f, plan %.1f, emit %.1f, optimize+jit %.0f), %d stage(s)\n",
           path, 1e3 * (now() - t0), 1e3 * (cpu_now() - c0), 1e3 * t_front, 1e3 * t_plan, 1e3 * t_emit, 1e3 * t_jit,
           ir->stages.len);
    if (chosen < 0) {
        fprintf(stderr, "%s: no such stage\n", path);
        return 1;
    }
    const IrStage *st = &ir->stages.items[chosen];
    int64_t B = batch > 0 ? batch : st->batch;
    rt_step_ctx ctx = {.B = B, .seed = 1};
    fill_ctx(st->graph, B, &ctx);
    float loss = 0, reports[64];
    ctx.loss = &loss;
    ctx.reports = reports;
    ctx.workspace = aligned_alloc(64, (kernel_plan_workspace(chosen_plan, B) + 64) / 64 * 64);
    ctx.pool = threads > 1 ? rt_pool_create(threads) : NULL;
    if (!ctx.pool) openblas_set_num_threads(1); /* as rt_pool_create does */

    Sample *s = calloc((size_t)steps, sizeof *s);
    for (int64_t k = 0; k < 5; k++, ctx.step++) chosen_fn(&ctx); /* warm caches and pages */
    rt_sgemm_profile(true);
    for (int64_t k = 0; k < steps; k++, ctx.step++) {
        double before = rt_sgemm_seconds(NULL), a = now(), ca = cpu_now();
        chosen_fn(&ctx);
        s[k].step = now() - a;
        s[k].cpu = cpu_now() - ca;
        s[k].sgemm = rt_sgemm_seconds(NULL) - before;
    }
    uint64_t calls = 0;
    rt_sgemm_seconds(&calls);
    rt_sgemm_profile(false);
    qsort(s, (size_t)steps, sizeof *s, by_step);
    double step_sum = 0, sgemm_sum = 0, cpu_best = s[0].cpu;
    int64_t half = steps / 2 > 0 ? steps / 2 : 1;
    for (int64_t k = 0; k < half; k++) step_sum += s[k].step, sgemm_sum += s[k].sgemm;
    for (int64_t k = 0; k < steps; k++) cpu_best = s[k].cpu < cpu_best ? s[k].cpu : cpu_best;
    /* The caller's CPU time is the step's only at 1 thread. */
    printf("%s B=%lld threads=%d gemm=%s openblas=%s: best %.3f ms/step (caller cpu %.3f), median %.3f, "
           "sgemm %.1f%% (%.3f ms of the fastest half's mean %.3f; %llu calls/step), loss %g\n",
           st->name, (long long)B, threads, rt_gemm_library(), openblas_get_corename(), 1e3 * s[0].step,
           1e3 * cpu_best, 1e3 * s[steps / 2].step, 100 * sgemm_sum / step_sum, 1e3 * sgemm_sum / (double)half,
           1e3 * step_sum / (double)half, (unsigned long long)(calls / (uint64_t)steps), loss);
    for (int i = 0; i < st->graph->params.len; i++) free(ctx.params[i]), free(ctx.opt_state[i]);
    for (int i = 0; i < st->graph->inputs.len; i++) free(ctx.inputs[i]);
    free((void *)ctx.params), free((void *)ctx.opt_state), free((void *)ctx.inputs);
    free(ctx.workspace);
    free(s);
    sb_free(&why);
    rt_pool_destroy(ctx.pool);
    jit_free(jit);
    driver_free(&c);
    return 0;
}
