/* backend.c — the bridge between the compiler and the runtime: each stage's
 * graph goes through fuse_plan -> cg_emit -> jit_compile, and the program's
 * datasets, stages, parameters and steps become the rt_program that
 * rt_run_program (runtime/trainer.c) runs.
 */
#include "backend.h"
#include "bounds.h"
#include "phases.h"
#include "present.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------ the step */

/* Books one step that ran from t0 to t1. */
static void count_step(BackendStage *s, const rt_step_ctx *ctx, double t0, double t1) {
    s->step_seconds += t1 - t0;
    s->steps++;
    s->rows += ctx->B;
}

static void step_compiled(void *user, rt_step_ctx *ctx) {
    BackendStage *s = user;
    double t0 = now_seconds();
    s->fn(ctx);
    count_step(s, ctx, t0, now_seconds());
}

static void step_interpreted(void *user, rt_step_ctx *ctx) {
    BackendStage *s = user;
    double t0 = now_seconds();
    if (!interp_step(s->ir->graph, ctx) && ctx->loss) *ctx->loss = NAN; /* out of memory */
    count_step(s, ctx, t0, now_seconds());
}

static size_t workspace_bytes(void *user, int64_t B) {
    BackendStage *s = user;
    return s->plan ? kernel_plan_workspace(s->plan, B) : 0;
}

KSize be_output_offset(const KernelPlan *p) {
    int n = p->g->output;
    while (p->buf[n].kind == KB_VIEW) n = p->buf[n].of;
    return p->buf[n].offset;
}

static size_t sample_workspace_bytes(void *user, int64_t B) {
    BackendStage *s = user;
    return s->sample_plan ? kernel_plan_workspace(s->sample_plan, B) : 0;
}

/* The `sample` logits for ctx's windows: the compiled graph, whose output stays
 * in the workspace, or the interpreter. */
static void sample_logits(void *user, rt_step_ctx *ctx, float *out) {
    BackendStage *s = user;
    const IrGraph *g = s->ir->sample.graph;
    int64_t numel = ctx->B * s->ir->sample.positions * s->ir->sample.vocab;
    if (s->sample_fn) {
        s->sample_fn(ctx);
        memcpy(out, (char *)ctx->workspace + ksize_eval(be_output_offset(s->sample_plan), ctx->B), sizeof *out * (size_t)numel);
        return;
    }
    InterpRun r = {.g = g, .B = ctx->B, .seed = ctx->seed, .f32 = true, .params_f32 = ctx->params,
                   .inputs = ctx->inputs};
    bool ok = interp_run(&r);
    for (int64_t i = 0; i < numel; i++) out[i] = ok ? (float)r.v[g->output][i] : NAN;
    interp_run_free(&r);
}

void be_describe_nonfinite(const IrGraph *g, int id, const char *first, char *msg, size_t cap) {
    const IrNode *n = &g->nodes.items[id];
    const Span *sp = &n->span;
    const char *part = n->backward ? "the gradient of" : "the value of";
    if (!sp->file) {
        snprintf(msg, cap, "%s IR node %%%d (%s) is %s", part, id, ir_op_info[n->op].name, first);
        return;
    }
    int len = sp->len;
    const char *text = sp->file->text + sp->off;
    const char *eol = memchr(text, '\n', (size_t)len);
    if (eol) len = (int)(eol - text);
    if (len > 60) len = 60;
    snprintf(msg, cap, "%s `%.*s` (%s:%d:%d, IR node %%%d %s) is %s", part, len, text,
             sp->file->path, sp->line, sp->col, id, ir_op_info[n->op].name, first);
}

/* Names the first IR node of the failed step whose value is not finite, and the
 * .rl code it came from, by rerunning the step in the interpreter. */
static bool explain_nonfinite(void *user, const rt_step_ctx *ctx, char *msg, size_t cap) {
    BackendStage *s = user;
    int id = interp_first_nonfinite(s->ir->graph, ctx);
    if (id < 0) return false;
    be_describe_nonfinite(s->ir->graph, id, "the first that is not finite", msg, cap);
    return true;
}

/* ------------------------------------------------------- descriptions */

static rt_init_kind init_kind(IrInit k) {
    switch (k) {
    case INIT_GLOROT: return RT_INIT_GLOROT;
    case INIT_HE: return RT_INIT_HE;
    case INIT_ZEROS: return RT_INIT_ZEROS;
    case INIT_ONES: return RT_INIT_ONES;
    case INIT_NORMAL: return RT_INIT_NORMAL;
    case INIT_UNIFORM: return RT_INIT_UNIFORM;
    case INIT_VALUE: return RT_INIT_VALUE;
    }
    return RT_INIT_ZEROS;
}

static rt_optimizer optimizer(const IrOptim *o) {
    rt_optimizer r = {
        .lr = o->lr, .momentum = o->momentum, .beta1 = o->beta1, .beta2 = o->beta2,
        .eps = o->eps, .weight_decay = o->weight_decay, .warmup = o->warmup, .to = o->sched_to,
    };
    r.kind = o->kind == OPT_SGD ? RT_OPT_SGD : o->kind == OPT_ADAM ? RT_OPT_ADAM : RT_OPT_ADAMW;
    r.schedule = o->schedule == SCHED_LINEAR   ? RT_SCHED_LINEAR
                 : o->schedule == SCHED_COSINE ? RT_SCHED_COSINE
                                               : RT_SCHED_CONSTANT;
    return r;
}

static int dataset_index(const IrProgram *ir, const char *name) {
    for (int i = 0; i < ir->datasets.len; i++)
        if (strcmp(ir->datasets.items[i]->name, name) == 0) return i;
    return -1;
}

static int stage_index(const IrProgram *ir, const char *name) {
    for (int i = 0; i < ir->stages.len; i++)
        if (strcmp(ir->stages.items[i].name, name) == 0) return i;
    return -1;
}

/* Whether the step assigns a state tensor: batch_norm's batch statistics, which need 2 rows. */
static bool updates_state(const IrGraph *g) {
    for (int n = 0; n < g->nodes.len; n++)
        if (g->nodes.items[n].op == IR_UPDATE && g->params.items[g->nodes.items[n].index].state) return true;
    return false;
}

static bool has_products(const IrGraph *g) {
    for (int n = 0; n < g->nodes.len; n++)
        if (g->nodes.items[n].op == IR_MATMUL) return true;
    return false;
}

static rt_param_spec *param_specs(Backend *b, const IrGraph *g, bool train) {
    rt_param_spec *params = arena_alloc(b->arena, sizeof *params * (size_t)(g->params.len + 1));
    for (int p = 0; p < g->params.len; p++) {
        const IrParam *ip = &g->params.items[p];
        rt_param_spec *rp = &params[p];
        rp->name = ip->name;
        rp->rank = ip->shape.rank;
        for (int d = 0; d < ip->shape.rank; d++) rp->dims[d] = ip->shape.d[d].c;
        rp->init = init_kind(ip->init);
        rp->a = ip->init_a;
        rp->b = ip->init_b;
        rp->trained = ip->trained && train;
    }
    return params;
}

static const char **input_fields(Backend *b, const IrGraph *g) {
    const char **inputs = arena_alloc(b->arena, sizeof *inputs * (size_t)(g->inputs.len + 1));
    for (int k = 0; k < g->inputs.len; k++) inputs[k] = g->inputs.items[k].field;
    return inputs;
}

static void describe_sampler(Backend *b, int i) {
    BackendStage *s = &b->stages[i];
    const IrSample *sm = &s->ir->sample;
    const rt_dataset_spec *ds = b->ir->datasets.items[dataset_index(b->ir, s->ir->dataset)];
    s->sampler = (rt_sampler){
        .prompt = sm->prompt,
        .tokens = sm->tokens,
        .count = sm->count,
        .temperature = sm->temperature,
        .top_k = sm->top_k,
        .positions = sm->positions,
        .vocab = sm->vocab,
        .char_unit = ds->char_unit,
        .window = sm->window,
        .n_params = sm->graph->params.len,
        .params = param_specs(b, sm->graph, false),
        .n_inputs = sm->graph->inputs.len,
        .inputs = input_fields(b, sm->graph),
        .user = s,
        .logits = sample_logits,
        .workspace_bytes = sample_workspace_bytes,
    };
    b->rt_stages[i].sample = &s->sampler;
}

static void describe_stage(Backend *b, int i) {
    const IrStage *st = &b->ir->stages.items[i];
    const IrGraph *g = st->graph;
    rt_stage *r = &b->rt_stages[i];
    rt_param_spec *params = param_specs(b, g, st->is_train);
    const char **inputs = input_fields(b, g);
    const char **reports = arena_alloc(b->arena, sizeof *reports * (size_t)(g->reports.len + 1));
    for (int k = 0; k < g->reports.len; k++) reports[k] = g->reports.items[k].name;

    *r = (rt_stage){
        .name = st->name,
        .train = st->is_train,
        .dataset = dataset_index(b->ir, st->dataset),
        .batch = st->batch,
        .epochs = st->epochs,
        .steps = st->steps,
        .limit = st->limit,
        .seed = st->seed,
        .load = st->load,
        .save = st->save,
        .save_every = st->save_every,
        .min_rows = st->is_train && updates_state(g) ? 2 : 0,
        .products = !b->interp && has_products(g),
        .validate = st->validate ? stage_index(b->ir, st->validate) : -1,
        .n_params = g->params.len,
        .params = params,
        .n_inputs = g->inputs.len,
        .inputs = inputs,
        .input_limits = bounds_inputs(b->arena, g),
        .n_reports = g->reports.len,
        .reports = reports,
        .opt = optimizer(&g->optim),
        .user = &b->stages[i],
        .step = b->interp ? step_interpreted : step_compiled,
        .workspace_bytes = workspace_bytes,
        .explain_nonfinite = explain_nonfinite,
        .at_end = present_wanted(st) ? present_stage_end : NULL,
    };
    if (st->sample.graph) describe_sampler(b, i);
}

/* --------------------------------------------------------------- compile */

/* Emits every stage's module, each in a context of its own so that LLVM can
 * compile them in parallel (a JitBatch, which starts on a module while the next
 * is emitted), and fills in their functions. A kernel that an earlier module has
 * (the same code) is compiled there only (cg_emit_shared); the batch adds the
 * modules to the JIT in this order. */
static bool compile_stages(Backend *b, Arena *a, const char *inputs, StrBuf *why) {
    int stages = b->ir->stages.len, n = stages;
    /* the steps, then the `sample` graphs of the stages that have one */
    for (int i = 0; i < stages; i++) n += b->stages[i].sample_plan != NULL;
    LLVMContextRef *contexts = arena_alloc(a, sizeof *contexts * (size_t)(n + 1));
    LLVMModuleRef *modules = arena_alloc(a, sizeof *modules * (size_t)(n + 1));
    const char **names = arena_alloc(a, sizeof *names * (size_t)(n + 1));
    RlcStepFn *fns = arena_alloc(a, sizeof *fns * (size_t)(n + 1));
    int *owner = arena_alloc(a, sizeof *owner * (size_t)(n + 1));
    for (int i = 0, k = stages; i < stages; i++) {
        owner[i] = i;
        if (b->stages[i].sample_plan) owner[k++] = i;
    }
    for (int i = 0; i < n; i++)
        names[i] = arena_printf(a, i >= stages ? "rlc_sample_%d" : "rlc_step_%d", owner[i]);
    /* every object already compiled for these inputs: no IR emitted at all */
    ObjCacheKey *keys = inputs ? arena_alloc(a, sizeof *keys * (size_t)(n + 1)) : NULL;
    for (int i = 0; keys && i < n; i++)
        if (!objcache_source_key(inputs, names[i], jit_target_machine(b->jit), jit_compile_settings(), &keys[i]))
            keys = NULL;
    PhaseClock t = phase_start();
    bool ok = keys && jit_load_cached(b->jit, n, keys, names, fns, why);
    phase_end(t, "cache lookup by inputs (%s)", ok ? "hit" : "miss");
    if (!ok && why->len) return false;
    if (ok) {
        for (int i = 0; i < stages; i++) {
            b->stages[i].fn = fns[i];
            b->stages[i].compiles++;
        }
        for (int k = stages; k < n; k++) b->stages[owner[k]].sample_fn = fns[k];
        return true;
    }
    KernelNames defined = {.arena = a};
    /* each module goes to the workers as soon as it is emitted: they compile the
     * first (the largest) while the later ones are emitted */
    JitBatch *batch = jit_batch_start(b->jit, n, names, keys);
    if (!batch) {
        sb_puts(why, "out of memory");
        return false;
    }
    int emitted = 0; /* modules the batch took: their contexts live until it finishes */
    ok = true;
    for (int i = 0; ok && i < n; i++) {
        const BackendStage *s = &b->stages[owner[i]];
        bool sampler = i >= stages;
        PhaseClock t = phase_start();
        contexts[i] = LLVMContextCreate();
        LLVMModuleRef m = cg_emit_shared(sampler ? s->sample_plan : s->plan, contexts[i], names[i], &defined, why);
        phase_end(t, "emit IR of %s", names[i]);
        if (!m) {
            LLVMContextDispose(contexts[i]);
            ok = false;
            break;
        }
        emitted++;
        ok = jit_batch_add(batch, m, why);
    }
    ok = jit_batch_finish(batch, fns, why) && ok;
    for (int i = 0; i < stages; i++) {
        b->stages[i].fn = ok ? fns[i] : NULL;
        b->stages[i].compiles += ok;
    }
    for (int k = stages; k < n; k++) b->stages[owner[k]].sample_fn = ok ? fns[k] : NULL;
    for (int i = 0; i < emitted; i++) LLVMContextDispose(contexts[i]);
    return ok;
}

/* plan: fuse every stage; jit: also compile it (plan implied), reusing the
 * objects under cache_dir when it is not NULL. Neither: the reference
 * interpreter runs the steps. */
static bool prepare(Backend *b, Arena *a, const IrProgram *ir, bool plan, bool jit,
                    const char *cache_dir, const char *inputs, StrBuf *why) {
    bool interp = !plan && !jit;
    *b = (Backend){.arena = a, .ir = ir, .interp = interp};
    int n = ir->stages.len;
    b->stages = arena_alloc(a, sizeof *b->stages * (size_t)(n + 1));
    b->rt_stages = arena_alloc(a, sizeof *b->rt_stages * (size_t)(n + 1));
    double t0 = now_seconds();
    if (jit) {
        PhaseClock t = phase_start();
        b->jit = jit_new(why);
        phase_end(t, "create the JIT");
        if (!b->jit) return false;
        if (!jit_use_cache(b->jit, cache_dir)) {
            sb_puts(why, "out of memory");
            return false;
        }
    }
    PhaseClock t = phase_start();
    for (int i = 0; i < n; i++) {
        BackendStage *s = &b->stages[i];
        s->ir = &ir->stages.items[i];
        if (!interp) {
            s->plan = fuse_plan(a, s->ir->graph, why);
            if (!s->plan) return false;
            if (s->ir->sample.graph && !(s->sample_plan = fuse_plan(a, s->ir->sample.graph, why))) return false;
        }
    }
    phase_end(t, "plan kernels (fuse)");
    if (jit && !compile_stages(b, a, cache_dir ? inputs : NULL, why)) return false;
    for (int i = 0; i < n; i++) describe_stage(b, i);
    b->compile_seconds = now_seconds() - t0;
    rt_dataset_spec *ds = arena_alloc(a, sizeof *ds * (size_t)(ir->datasets.len + 1));
    for (int i = 0; i < ir->datasets.len; i++) ds[i] = *ir->datasets.items[i];
    b->prog = (rt_program){
        .name = ir->path,
        .n_datasets = ir->datasets.len,
        .datasets = ds,
        .n_stages = n,
        .stages = b->rt_stages,
    };
    return true;
}

bool be_compile(Backend *b, Arena *a, const IrProgram *ir, bool interp, StrBuf *why) {
    return prepare(b, a, ir, !interp, !interp, NULL, NULL, why);
}

bool be_compile_cached(Backend *b, Arena *a, const IrProgram *ir, const char *cache_dir,
                       const char *inputs, StrBuf *why) {
    return prepare(b, a, ir, true, true, cache_dir, inputs, why);
}

bool be_plan(Backend *b, Arena *a, const IrProgram *ir, StrBuf *why) {
    return prepare(b, a, ir, true, false, NULL, NULL, why);
}

void be_free(Backend *b) {
    if (b->jit) jit_free(b->jit);
    b->jit = NULL;
}

bool be_dump(const IrProgram *ir, bool llvm, const char *only, StrBuf *out, StrBuf *why) {
    Arena a = {0};
    LLVMContextRef ctx = NULL;
    bool ok = true;
    if (llvm) ctx = LLVMContextCreate();
    /* the modules `rlc run` compiles: every stage's is emitted, so that a kernel an
     * earlier stage defines is declared in the stages printed */
    KernelNames defined = {.arena = &a};
    for (int i = 0; ok && i < ir->stages.len; i++) {
        const IrStage *st = &ir->stages.items[i];
        bool shown = !only || strcmp(only, st->name) == 0;
        if (!shown && !llvm) continue;
        KernelPlan *plan = fuse_plan(&a, st->graph, why);
        if (!plan) {
            ok = false;
            break;
        }
        if (shown) sb_printf(out, "stage %s\n", st->name);
        if (!llvm) {
            kernel_plan_print(plan, out);
            continue;
        }
        char *fname = arena_printf(&a, "rlc_step_%d", i);
        LLVMModuleRef m = cg_emit_shared(plan, ctx, fname, &defined, why);
        if (!m) {
            ok = false;
            break;
        }
        if (shown) cg_print_module(m, out);
        LLVMDisposeModule(m);
    }
    if (ctx) LLVMContextDispose(ctx);
    arena_free(&a);
    return ok;
}

uint64_t be_program_hash(const Program *p) {
    uint64_t h = 1469598103934665603ull;
    for (int m = 0; m < p->modules.len; m++) {
        const SrcFile *f = p->modules.items[m]->file;
        if (!f) continue;
        for (size_t i = 0; i < f->len; i++) {
            h ^= (unsigned char)f->text[i];
            h *= 1099511628211ull;
        }
    }
    return h;
}
