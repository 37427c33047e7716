/* aot.c — `rlc build`: the steps as object files, the rt_program as generated C,
 * and one `cc` command that links them with librlrt, OpenBLAS and zlib.
 *
 * The objects come from the very modules the JIT compiles (cg_emit), optimized
 * by the same pipeline for the same CPU, so a trainer computes what `rlc run`
 * computes, bit for bit. Nothing of LLVM, the .rl source or the stdlib is
 * needed at run time: the steps are machine code, the rest is static data. Each
 * stage also gets a non-finite checker (cg_emit_checker) in an object of its own
 * and a table of what to say of each node it can name, since the trainer has no
 * interpreter to replay a failed step in.
 */
#include "aot.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* --------------------------------------------------------- C literals */

static void c_string(StrBuf *out, const char *s) {
    if (!s) {
        sb_puts(out, "NULL");
        return;
    }
    sb_puts(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') sb_printf(out, "\\%c", *p);
        else if (*p >= 32 && *p < 127 && *p != '?') sb_printf(out, "%c", *p);
        else sb_printf(out, "\\%03o", *p);   /* also '?', so no trigraph forms */
    }
    sb_puts(out, "\"");
}

/* %.17g round-trips every double exactly. */
static void c_double(StrBuf *out, double v) {
    if (isnan(v)) sb_puts(out, "NAN");
    else if (isinf(v)) sb_puts(out, v > 0 ? "INFINITY" : "-INFINITY");
    else sb_printf(out, "%.17g", v);
}

static void c_dims(StrBuf *out, int rank, const int64_t *dims) {
    sb_puts(out, "{");
    for (int d = 0; d < rank; d++) sb_printf(out, "%s%lldLL", d ? ", " : "", (long long)dims[d]);
    sb_puts(out, rank ? "}" : "0}");
}

/* --------------------------------------------------------- the program as C */

static void emit_dataset_fields(StrBuf *out, int di, const rt_dataset_spec *d) {
    if (d->n_fields == 0) return;
    sb_printf(out, "static rt_field_spec fields_%d[] = {\n", di);
    for (int i = 0; i < d->n_fields; i++) {
        const rt_field_spec *f = &d->fields[i];
        sb_puts(out, "    {.name = ");
        c_string(out, f->name);
        sb_printf(out, ", .is_i32 = %d, .rank = %d, .dims = ", f->is_i32, f->rank);
        c_dims(out, f->rank, f->dims);
        sb_printf(out, ", .kind = %d, .path = ", (int)f->kind);
        c_string(out, f->path);
        sb_printf(out, ", .columns = %lldLL, .length = %lldLL, .n_ops = %d, .ops = {",
                  (long long)f->columns, (long long)f->length, f->n_ops);
        for (int k = 0; k < f->n_ops; k++) {
            sb_printf(out, "%s{%d, %d, ", k ? ", " : "", f->ops[k].op, f->ops[k].value_first);
            c_double(out, f->ops[k].value);
            sb_puts(out, "}");
        }
        sb_puts(out, f->n_ops ? "}},\n" : "{0}}},\n");
    }
    sb_puts(out, "};\n");
}

/* A data folder as an absolute path, so the trainer finds the files from any
 * working directory on the machine it was built on (--data-path elsewhere). */
static void emit_base_dir(StrBuf *out, const char *dir) {
    char buf[PATH_MAX];
    c_string(out, dir && realpath(dir, buf) ? buf : dir);
}

static void emit_datasets(StrBuf *out, const rt_program *p) {
    for (int i = 0; i < p->n_datasets; i++) emit_dataset_fields(out, i, &p->datasets[i]);
    sb_puts(out, "static const rt_dataset_spec datasets[] = {\n");
    for (int i = 0; i < p->n_datasets; i++) {
        const rt_dataset_spec *d = &p->datasets[i];
        sb_puts(out, "    {.name = ");
        c_string(out, d->name);
        sb_puts(out, ", .base_dir = ");
        emit_base_dir(out, d->base_dir);
        sb_printf(out, ", .n_fields = %d, .fields = ", d->n_fields);
        if (d->n_fields) sb_printf(out, "fields_%d", i);
        else sb_puts(out, "NULL");
        sb_printf(out, ", .skipgram = %d, .text_path = ", d->skipgram);
        c_string(out, d->text_path);
        sb_printf(out, ", .lowercase = %d, .min_count = %lldLL, .window = %lldLL, .negatives = %lldLL, "
                       ".subsample = ", d->lowercase, (long long)d->min_count, (long long)d->window,
                  (long long)d->negatives);
        c_double(out, d->subsample);
        sb_printf(out, ", .char_unit = %d, .sequences = %d, .seq_length = %lldLL, .seq_stride = %lldLL, .tags = %d,\n"
                       "     .seq_start = ", d->char_unit, d->sequences, (long long)d->seq_length, (long long)d->seq_stride,
                  d->tags);
        c_double(out, d->seq_start);
        sb_puts(out, ", .seq_end = ");
        c_double(out, d->seq_end);
        sb_puts(out, "},\n");
    }
    sb_puts(out, "    {0}\n};\n\n");
}

/* The nodes the stage's checker (cg_emit_checker) can return, each with what a
 * trainer says of it, and the explain_nonfinite hook that runs the checker. */
static void emit_nonfinite_table(StrBuf *out, int si, const KernelPlan *plan) {
    const IrGraph *g = plan->g;
    sb_printf(out, "int rlc_nonfinite_%d(rt_step_ctx *ctx);\n"
                   "static const struct { int node; const char *what; } nonfinite_%d[] = {\n", si, si);
    char msg[512];
    for (int n = 0; n < g->nodes.len; n++) {
        const IrNode *x = &g->nodes.items[n];
        if ((x->op != IR_INPUT && x->op != IR_PARAM) || x->dtype != IR_F32) continue;
        be_describe_nonfinite(g, n, "the first checked value that is not finite", msg, sizeof msg);
        sb_printf(out, "    {%d, ", n);
        c_string(out, msg);
        sb_puts(out, "},\n");
    }
    for (int i = 0; i < plan->kernels.len; i++) {
        const Kernel *k = &plan->kernels.items[i];
        int node = k->kind == K_UPDATE ? g->nodes.items[k->root].in[1] : k->root;
        if (k->kind != K_UPDATE && (k->kind == K_SPARSE_UPDATE || plan->buf[k->root].kind != KB_WORK ||
                                    g->nodes.items[k->root].dtype != IR_F32))
            continue;
        be_describe_nonfinite(g, node, "the first checked value that is not finite", msg, sizeof msg);
        sb_printf(out, "    {%d, ", node);
        c_string(out, msg);
        sb_puts(out, "},\n");
    }
    sb_puts(out, "    {-1, NULL}\n};\n");
    sb_printf(out, "static bool explain_%d(void *user, const rt_step_ctx *ctx, char *msg, size_t cap) {\n"
                   "    (void)user;\n"
                   "    int node = rlc_nonfinite_%d((rt_step_ctx *)ctx);\n"
                   "    for (int i = 0; node >= 0 && nonfinite_%d[i].what; i++)\n"
                   "        if (nonfinite_%d[i].node == node) {\n"
                   "            snprintf(msg, cap, \"%%s\", nonfinite_%d[i].what);\n"
                   "            return true;\n"
                   "        }\n"
                   "    return false;\n}\n", si, si, si, si, si);
}

static void emit_param_specs(StrBuf *out, const char *table, int si, int n, const rt_param_spec *specs) {
    sb_printf(out, "static const rt_param_spec %s_%d[] = {\n", table, si);
    for (int i = 0; i < n; i++) {
        const rt_param_spec *ps = &specs[i];
        sb_puts(out, "    {.name = ");
        c_string(out, ps->name);
        sb_printf(out, ", .rank = %d, .dims = ", ps->rank);
        c_dims(out, ps->rank, ps->dims);
        sb_printf(out, ", .init = %d, .a = ", (int)ps->init);
        c_double(out, ps->a);
        sb_puts(out, ", .b = ");
        c_double(out, ps->b);
        sb_printf(out, ", .trained = %d},\n", ps->trained);
    }
    sb_puts(out, "    {0}\n};\n");
}

static void emit_names(StrBuf *out, const char *table, int si, int n, const char *const *names) {
    sb_printf(out, "static const char *const %s_%d[] = {", table, si);
    for (int i = 0; i < n; i++) {
        c_string(out, names[i]);
        sb_puts(out, ", ");
    }
    sb_puts(out, "NULL};\n");
}

/* A stage's `sample` graph (sample%d.o) and the rt_sampler that runs it: its
 * output, the logits, is read from the workspace where the plan put it. */
static void emit_sampler(StrBuf *out, int si, const rt_sampler *sm, const KernelPlan *plan) {
    const int64_t *w = plan->workspace.c, *at = be_output_offset(plan).c;
    sb_printf(out, "void rlc_sample_%d(rt_step_ctx *ctx);\n"
                   "static void sample_logits_%d(void *user, rt_step_ctx *ctx, float *out) {\n"
                   "    (void)user;\n    rlc_sample_%d(ctx);\n"
                   "    int64_t B = ctx->B, at = (%lldLL * B + %lldLL) * B + %lldLL;\n"
                   "    memcpy(out, (char *)ctx->workspace + at, sizeof *out * (size_t)(B * %lldLL));\n}\n",
              si, si, si, (long long)at[2], (long long)at[1], (long long)at[0],
              (long long)(sm->positions * sm->vocab));
    sb_printf(out, "static size_t sample_workspace_%d(void *user, int64_t B) {\n    (void)user;\n"
                   "    int64_t n = (%lldLL * B + %lldLL) * B + %lldLL;\n"
                   "    return n > 0 ? (size_t)n : 0;\n}\n", si, (long long)w[2], (long long)w[1], (long long)w[0]);
    emit_param_specs(out, "sample_params", si, sm->n_params, sm->params);
    emit_names(out, "sample_inputs", si, sm->n_inputs, sm->inputs);
    sb_printf(out, "static const rt_sampler sampler_%d = {.prompt = ", si);
    c_string(out, sm->prompt);
    sb_printf(out, ", .tokens = %lldLL, .count = %lldLL, .temperature = ", (long long)sm->tokens,
              (long long)sm->count);
    c_double(out, sm->temperature);
    sb_printf(out, ", .top_k = %lldLL,\n    .positions = %lldLL, .vocab = %lldLL, .char_unit = %d, .window = %d, "
                   ".n_params = %d, .params = sample_params_%d, .n_inputs = %d, .inputs = sample_inputs_%d,\n"
                   "    .logits = sample_logits_%d, .workspace_bytes = sample_workspace_%d};\n\n",
              (long long)sm->top_k, (long long)sm->positions, (long long)sm->vocab, sm->char_unit, sm->window,
              sm->n_params, si, sm->n_inputs, si, si, si);
}

static void emit_stage_tables(StrBuf *out, int si, const rt_stage *s, const KernelPlan *plan) {
    emit_nonfinite_table(out, si, plan);
    sb_printf(out, "void rlc_step_%d(rt_step_ctx *ctx);\n", si);
    sb_printf(out, "static void step_%d(void *user, rt_step_ctx *ctx) {\n    (void)user;\n"
                   "    rlc_step_%d(ctx);\n}\n", si, si);
    /* kernel_plan_workspace: c2*B^2 + c1*B + c0 bytes, never negative. */
    const int64_t *c = plan->workspace.c;
    sb_printf(out, "static size_t workspace_%d(void *user, int64_t B) {\n    (void)user;\n"
                   "    int64_t n = (%lldLL * B + %lldLL) * B + %lldLL;\n"
                   "    return n > 0 ? (size_t)n : 0;\n}\n", si, (long long)c[2], (long long)c[1],
              (long long)c[0]);
    emit_param_specs(out, "params", si, s->n_params, s->params);
    const char *const *lists[3] = {s->inputs, s->reports, s->freeze};
    int counts[3] = {s->n_inputs, s->n_reports, s->n_freeze};
    const char *names[3] = {"inputs", "reports", "freeze"};
    for (int l = 0; l < 3; l++) emit_names(out, names[l], si, counts[l], lists[l]);
    sb_printf(out, "static const rt_index_limit limits_%d[] = {", si);
    for (int i = 0; s->input_limits && i < s->n_inputs; i++) {
        sb_printf(out, "{%lldLL, ", (long long)s->input_limits[i].limit);
        c_string(out, s->input_limits[i].use);
        sb_puts(out, "}, ");
    }
    sb_puts(out, "{0}};\n\n");
}

static void emit_stage(StrBuf *out, int si, const rt_stage *s) {
    const rt_optimizer *o = &s->opt;
    sb_puts(out, "    {.name = ");
    c_string(out, s->name);
    sb_printf(out, ", .train = %d, .dataset = %d, .batch = %lldLL, .epochs = %lldLL, .steps = %lldLL,\n"
                   "     .limit = %lldLL, .seed = %lluULL, .load = ", s->train, s->dataset,
              (long long)s->batch, (long long)s->epochs, (long long)s->steps, (long long)s->limit,
              (unsigned long long)s->seed);
    c_string(out, s->load);
    sb_puts(out, ", .save = ");
    c_string(out, s->save);
    sb_printf(out, ", .save_every = %lldLL, .min_rows = %lldLL, .products = %d", (long long)s->save_every,
              (long long)s->min_rows, s->products);
    sb_printf(out, ", .validate = %d, .n_freeze = %d, .freeze = freeze_%d,\n     .n_params = %d, "
                   ".params = params_%d, .n_inputs = %d, .inputs = inputs_%d, .input_limits = limits_%d, "
                   ".n_reports = %d, .reports = reports_%d,\n",
              s->validate, s->n_freeze, si, s->n_params, si, s->n_inputs, si, si, s->n_reports, si);
    sb_printf(out, "     .opt = {.kind = %d, .lr = ", (int)o->kind);
    double vals[6] = {o->lr, o->momentum, o->beta1, o->beta2, o->eps, o->weight_decay};
    const char *fields[6] = {"lr", "momentum", "beta1", "beta2", "eps", "weight_decay"};
    for (int i = 0; i < 6; i++) {
        if (i) sb_printf(out, ", .%s = ", fields[i]);
        c_double(out, vals[i]);
    }
    sb_printf(out, ", .schedule = %d, .warmup = %lldLL, .to = ", o->schedule, (long long)o->warmup);
    c_double(out, o->to);
    sb_printf(out, "},\n     .step = step_%d, .workspace_bytes = workspace_%d, .explain_nonfinite = explain_%d",
              si, si, si);
    if (s->sample) sb_printf(out, ", .sample = &sampler_%d", si);
    sb_puts(out, "},\n");
}

void aot_program_source(const Backend *b, const rt_dim_check *checks, int n_checks, StrBuf *out) {
    const rt_program *p = &b->prog;
    sb_puts(out, "/* Generated by `rlc build` from ");
    sb_puts(out, p->name && !strstr(p->name, "*/") ? p->name : "a program");
    sb_puts(out, ": the program a standalone trainer runs, as static data. */\n"
                 "#include <math.h>\n#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n#include \"rlrt.h\"\n\n");
    emit_datasets(out, p);
    for (int i = 0; i < p->n_stages; i++) {
        emit_stage_tables(out, i, &p->stages[i], b->stages[i].plan);
        if (p->stages[i].sample) emit_sampler(out, i, p->stages[i].sample, b->stages[i].sample_plan);
    }
    sb_puts(out, "static const rt_stage stages[] = {\n");
    for (int i = 0; i < p->n_stages; i++) emit_stage(out, i, &p->stages[i]);
    sb_puts(out, "    {0}\n};\n\nstatic const rt_dim_check dim_checks[] = {\n");
    for (int i = 0; i < n_checks; i++) {
        sb_printf(out, "    {.dataset = %d, .property = ", checks[i].dataset);
        c_string(out, checks[i].property);
        sb_printf(out, ", .value = %lldLL},\n", (long long)checks[i].value);
    }
    sb_puts(out, "    {0}\n};\n\nstatic const rt_program program = {.name = ");
    c_string(out, p->name);
    sb_printf(out, ", .hash = %lluULL, .n_datasets = %d, .datasets = datasets,\n"
                   "    .n_stages = %d, .stages = stages, .procs = %d};\n\n",
              (unsigned long long)p->hash, p->n_datasets, p->n_stages, p->procs);
    sb_printf(out, "int main(int argc, char **argv) {\n"
                   "    return rt_trainer_main(&program, dim_checks, %d, argc, argv);\n}\n", n_checks);
}

/* --------------------------------------------------------- tools and files */

static bool is_file(const char *path, bool exec) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (!exec || access(path, X_OK) == 0);
}

/* A program name as the shell would find it; NULL when it is nowhere on PATH. */
static char *find_program(Arena *a, const char *name) {
    if (strchr(name, '/')) return is_file(name, true) ? arena_strdup(a, name) : NULL;
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *cand = arena_printf(a, "%.*s/%s", (int)n, n ? p : ".", name);
        if (is_file(cand, true)) return cand;
        if (!end) break;
        p = end + 1;
    }
    return NULL;
}

/* librlrt.a and rlrt.h: beside an installed rlc (PREFIX/bin/rlc -> PREFIX/lib,
 * PREFIX/include/rlc, whatever the prefix), else the build tree's when rlc runs
 * from it, else those of the configured install prefix. */
static bool find_runtime(Arena *a, const char **lib, const char **include, StrBuf *why) {
    const char *libs[3] = {NULL, RLC_RUNTIME_LIB, RLC_INSTALL_RUNTIME_LIB};
    const char *incs[3] = {NULL, RLC_RUNTIME_INCLUDE, RLC_INSTALL_RUNTIME_INCLUDE};
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = n > 0 ? (exe[n] = 0, strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = 0;
        const char *base = strrchr(RLC_INSTALL_RUNTIME_LIB, '/');
        libs[0] = arena_printf(a, "%s/../lib%s", exe, base ? base : "/librlrt.a");
        incs[0] = arena_printf(a, "%s/../include/rlc", exe);
    }
    for (int i = 0; i < 3; i++) {
        if (!libs[i]) continue;
        char h[PATH_MAX];
        snprintf(h, sizeof h, "%s/rlrt.h", incs[i]);
        if (is_file(libs[i], false) && is_file(h, false)) {
            *lib = libs[i];
            *include = incs[i];
            return true;
        }
    }
    sb_printf(why, "cannot find the runtime library librlrt.a with rlrt.h (looked beside rlc, for "
                   "%s and for %s): build rlc's `rlrt` target, or install rlc with `cmake --install`",
              libs[1], libs[2]);
    return false;
}

static void remove_tree(const char *dir, int n_objects) {
    static const char *const files[] = {"program.c", "link.log"};
    char path[PATH_MAX];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    for (int i = 0; i < n_objects; i++) {
        snprintf(path, sizeof path, "%s/stage%d.o", dir, i);
        unlink(path);
        snprintf(path, sizeof path, "%s/check%d.o", dir, i);
        unlink(path);
        snprintf(path, sizeof path, "%s/sample%d.o", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

/* What to install for a library the linker did not find. */
static void link_hints(const char *log, StrBuf *why) {
    static const struct { const char *lib, *what; } hints[] = {
        {"-lopenblas", "OpenBLAS is missing: install it (Debian/Ubuntu: apt install libopenblas-dev)"},
        {"-lz", "zlib is missing: install it (Debian/Ubuntu: apt install zlib1g-dev)"},
        {"-lm", "the C library's development files are missing (Debian/Ubuntu: apt install libc6-dev)"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof *hints; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "cannot find %s", hints[i].lib);
        const char *at = strstr(log, needle);
        if (at && !isalnum((unsigned char)at[strlen(needle)])) sb_printf(why, "\n  hint: %s", hints[i].what);
    }
}

/* Runs argv with stdout and stderr in log_path; true when it exits with 0. */
static bool run_tool(char *const *argv, const char *log_path, StrBuf *why) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        sb_printf(why, "cannot run %s: %s", argv[0], strerror(rc));
        return false;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            sb_printf(why, "waiting for %s: %s", argv[0], strerror(errno));
            return false;
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
    sb_printf(why, "linking failed (%s ", argv[0]);
    if (WIFEXITED(status)) sb_printf(why, "exited with %d)", WEXITSTATUS(status));
    else sb_puts(why, "was killed)");
    return false;
}

/* --------------------------------------------------------- build */

static bool emit_objects(const Backend *b, const char *dir, const AotOptions *o, int *n_done,
                         StrBuf *why) {
    LLVMContextRef ctx = LLVMContextCreate();
    bool ok = true;
    for (int i = 0; ok && i < b->prog.n_stages; i++) {
        *n_done = i + 1;
        /* The step, and apart from it the checker (its own copy of the kernels, so
         * the step's code is exactly what the JIT runs). */
        for (int checker = 0; ok && checker < 2; checker++) {
            char name[32], path[PATH_MAX];
            snprintf(name, sizeof name, checker ? "rlc_nonfinite_%d" : "rlc_step_%d", i);
            snprintf(path, sizeof path, checker ? "%s/check%d.o" : "%s/stage%d.o", dir, i);
            LLVMModuleRef m = checker ? cg_emit_checker(b->stages[i].plan, ctx, name, why)
                                      : cg_emit(b->stages[i].plan, ctx, name, why);
            ok = m && cg_emit_object(m, path, o->cpu, o->features, why);
            if (m) LLVMDisposeModule(m);
        }
        if (ok && b->stages[i].sample_plan) {
            char name[32], path[PATH_MAX];
            snprintf(name, sizeof name, "rlc_sample_%d", i);
            snprintf(path, sizeof path, "%s/sample%d.o", dir, i);
            LLVMModuleRef m = cg_emit(b->stages[i].sample_plan, ctx, name, why);
            ok = m && cg_emit_object(m, path, o->cpu, o->features, why);
            if (m) LLVMDisposeModule(m);
        }
    }
    LLVMContextDispose(ctx);
    return ok;
}

/* The objects are linked by the host's cc against the host's librlrt, so a
 * trainer can only be for the host's triple; another one is refused, not
 * half-built. */
static bool check_target(const char *target, StrBuf *why) {
    if (!target) return true;
    char *host = LLVMGetDefaultTargetTriple();
    char *want = LLVMNormalizeTargetTriple(target);
    bool same = strcmp(host, want) == 0;
    if (!same)
        sb_printf(why, "cannot build for target `%s`: rlc build links with this machine's C compiler "
                       "and runtime, so the target must be the host's (%s); use --cpu to choose the "
                       "processor (e.g. --cpu x86-64-v3 for any AVX2 machine)", target, host);
    LLVMDisposeMessage(host);
    LLVMDisposeMessage(want);
    return same;
}

bool aot_build(const Backend *b, const rt_dim_check *checks, int n_checks, const AotOptions *o,
               StrBuf *why) {
    if (!check_target(o->target, why)) return false;
    Arena a = {0};
    const char *linker_name = o->linker ? o->linker : getenv("RLC_LINKER");
    bool from_env = !o->linker && linker_name && *linker_name;
    if (!linker_name || !*linker_name) linker_name = "cc";
    char *linker = find_program(&a, linker_name);
    const char *lib = NULL, *include = NULL;
    if (!linker) {
        if (from_env)
            sb_printf(why, "cannot find the linker `%s` that RLC_LINKER names: set RLC_LINKER to a C "
                           "compiler driver (cc, gcc, clang) that is installed", linker_name);
        else
            sb_printf(why, "cannot find the C compiler `%s` that rlc build links with: install one "
                           "(Debian/Ubuntu: apt install gcc) or set RLC_LINKER to a C compiler driver",
                      linker_name);
        arena_free(&a);
        return false;
    }
    if (!find_runtime(&a, &lib, &include, why)) {
        arena_free(&a);
        return false;
    }
    const char *tmp = getenv("TMPDIR");
    char *dir = arena_printf(&a, "%s/rlc-build-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        sb_printf(why, "cannot create a temporary folder %s: %s", dir, strerror(errno));
        arena_free(&a);
        return false;
    }
    int n_objects = 0;
    bool ok = emit_objects(b, dir, o, &n_objects, why);
    char *csrc = arena_printf(&a, "%s/program.c", dir), *log = arena_printf(&a, "%s/link.log", dir);
    if (ok) {
        StrBuf src = {0};
        aot_program_source(b, checks, n_checks, &src);
        FILE *f = fopen(csrc, "w");
        ok = f && fwrite(src.data, 1, src.len, f) == src.len;
        if (f && fclose(f) != 0) ok = false;
        if (!ok) sb_printf(why, "cannot write %s: %s", csrc, strerror(errno));
        sb_free(&src);
    }
    if (ok) {
        Vec(char *) argv = {0};
        vec_push(&a, &argv, linker);
        vec_push(&a, &argv, "-O2");
        vec_push(&a, &argv, "-o");
        vec_push(&a, &argv, (char *)o->output);
        vec_push(&a, &argv, arena_printf(&a, "-I%s", include));
        vec_push(&a, &argv, csrc);
        for (int i = 0; i < n_objects; i++) {
            vec_push(&a, &argv, arena_printf(&a, "%s/stage%d.o", dir, i));
            vec_push(&a, &argv, arena_printf(&a, "%s/check%d.o", dir, i));
            if (b->stages[i].sample_plan) vec_push(&a, &argv, arena_printf(&a, "%s/sample%d.o", dir, i));
        }
        vec_push(&a, &argv, (char *)lib);
        /* The sanitizer runtime, when librlrt itself was built with one, and MPI. */
        char *extra = arena_printf(&a, "%s %s", RLC_RUNTIME_LDFLAGS, RLC_MPI_LIBRARIES);
        for (char *t = strtok(extra, " "); t; t = strtok(NULL, " ")) vec_push(&a, &argv, t);
        const char *libs[] = {"-lopenblas", "-lz", "-lm", "-lpthread"};
        for (int i = 0; i < 4; i++) vec_push(&a, &argv, (char *)libs[i]);
        vec_push(&a, &argv, NULL);
        ok = run_tool(argv.items, log, why);
        if (!ok) {
            char *text = read_file(&a, log, NULL);
            if (text && *text) {
                size_t n = strlen(text);
                while (n && text[n - 1] == '\n') text[--n] = 0;
                sb_printf(why, ":\n%s", text);
                link_hints(text, why);
            }
        }
    }
    remove_tree(dir, n_objects);
    arena_free(&a);
    return ok;
}
