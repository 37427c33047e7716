/* driver.c — the pipeline, phase by phase:
 *
 *   parse (parser.y) -> resolve/check (sema) -> lower -> autodiff -> simplify
 *   -> fuse -> codegen -> jit/aot
 *
 * Each command runs the phases it needs and prints what they collected.
 */
#include "driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aot.h"
#include "backend.h"
#include "interp.h"
#include "lower.h"
#include "phases.h"
#include "sema.h"

void driver_init(Compilation *c) {
    memset(c, 0, sizeof *c);
    c->diags.arena = &c->arena;
    c->program.arena = &c->arena;
    c->program.diags = &c->diags;
}

void driver_free(Compilation *c) {
    arena_free(&c->arena);
}

bool driver_parse(Compilation *c, const char *path) {
    const SrcFile *file = ast_load_file(&c->arena, &c->diags, path, (Span){0});
    if (!file) return false;
    int before = c->diags.errors;
    Module *m = ast_parse_file(&c->arena, &c->diags, file, "main");
    vec_push(&c->arena, &c->program.modules, m);
    return c->diags.errors == before;
}

bool driver_front(Compilation *c, const char *path) {
    if (!driver_parse(c, path)) return false;
    return sema_run(&c->program) && c->diags.errors == 0;
}

int driver_dump_ast(const char *path, FILE *out, FILE *err) {
    Compilation c;
    driver_init(&c);
    bool ok = driver_parse(&c, path);
    diag_print(&c.diags, err);
    if (ok) {
        StrBuf sb = {0};
        ast_dump(&c.program, &sb);
        if (sb.data) fputs(sb.data, out);
        sb_free(&sb);
    }
    driver_free(&c);
    return ok ? 0 : 1;
}

/* The dims read from the data during lowering, for `rlc build` to check again
 * when the trainer starts. */
typedef struct DataDim {
    const char *dataset, *property;
    int64_t value;
} DataDim;
typedef struct DataDims {
    Arena *arena;
    Vec(DataDim) dims;
    const char *cache_dir; /* remember properties there (objcache_get_dim); NULL: not */
} DataDims;

/* `brown.vocab` and the like: remembered from an earlier run where the corpus
 * decides it (rt_dataset_spec_key), else from the corpus where it alone says it
 * (the text stays cached for the trainer, so it is read once a run), else load the
 * dataset the way the runtime will and ask it. */
static bool dataset_dim_from_data(void *ctx, const rt_dataset_spec *spec, const char *property,
                                  int64_t *value, char *why, size_t why_len) {
    DataDims *rec = ctx;
    char *key = rec && rec->cache_dir ? rt_dataset_spec_key(spec, property) : NULL;
    bool remembered = key && objcache_get_dim(rec->cache_dir, key, value);
    bool ok = remembered || rt_dataset_spec_property(spec, property, value);
    if (!ok) {
        rt_error err = {0};
        rt_dataset *ds = rt_dataset_load(spec, &err);
        if (!ds) {
            snprintf(why, why_len, "%s", err.msg);
            free(key);
            return false;
        }
        ok = rt_dataset_property(ds, property, value);
        if (!ok) snprintf(why, why_len, "dataset `%s` has no property `%s`", spec->name, property);
        rt_dataset_free(ds);
    }
    if (ok && key && !remembered) objcache_put_dim(rec->cache_dir, key, *value);
    free(key);
    if (ok && rec)
        vec_push(rec->arena, &rec->dims,
                 ((DataDim){arena_strdup(rec->arena, spec->name), arena_strdup(rec->arena, property), *value}));
    return ok;
}

/* The processes the steps are sharded for: --procs, else those of the mpirun
 * this runs in (1 alone). */
static int64_t shard_procs;

void driver_set_procs(int64_t procs) { shard_procs = procs; }

static int64_t procs_to_compile_for(void) { return shard_procs > 0 ? shard_procs : rt_mpi_size(); }

static IrProgram *lower_recording(Compilation *c, const char *path, DataDims *rec) {
    PhaseClock t = phase_start();
    bool front = driver_front(c, path);
    phase_end(t, "parse and check");
    if (!front) return NULL;
    LowerOptions o = {.dataset_dim = dataset_dim_from_data, .dataset_dim_ctx = rec,
                      .procs = procs_to_compile_for()};
    t = phase_start();
    IrProgram *ir = lower_program(&c->program, &c->diags, &o);
    phase_end(t, "lower, differentiate, simplify");
    return ir;
}

IrProgram *driver_lower(Compilation *c, const char *path) {
    return lower_recording(c, path, NULL);
}

/* What `rlc check` lowers with when the data that knows a property such as
 * `brown.vocab` cannot be read: small, like gradcheck's sizes. */
enum { CHECK_PLACEHOLDER_DIMS = 6 };

/* The front end, then every stage lowered (data-dependent sizes from the data
 * where it can be read, else a placeholder with a warning), differentiated and
 * planned into kernels (fuse_plan), as `rlc run` does before its first step:
 * what fails in any of these fails here. No code is generated. */
static bool check_one(Compilation *c, const char *path, StrBuf *backend_why) {
    if (!driver_front(c, path)) return false;
    LowerOptions o = {.dataset_dim = dataset_dim_from_data, .placeholder_dims = CHECK_PLACEHOLDER_DIMS};
    IrProgram *ir = lower_program(&c->program, &c->diags, &o);
    if (!ir) return false;
    Backend be;
    bool ok = be_plan(&be, &c->arena, ir, backend_why);
    if (!ok && !backend_why->data) sb_puts(backend_why, "the back end failed");
    be_free(&be);
    return ok;
}

int driver_check(const char *const *paths, int npaths, FILE *err) {
    int status = 0;
    for (int i = 0; i < npaths; i++) {
        Compilation c;
        driver_init(&c);
        StrBuf backend_why = {0};
        if (!check_one(&c, paths[i], &backend_why)) status = 1;
        diag_print(&c.diags, err);
        if (backend_why.data) fprintf(err, "%s: error: %s\n", paths[i], backend_why.data);
        sb_free(&backend_why);
        driver_free(&c);
    }
    return status;
}

int driver_dump_ir(const char *path, bool grad, bool raw, const char *stage, FILE *out, FILE *err) {
    Compilation c;
    driver_init(&c);
    IrProgram *ir = driver_lower(&c, path);
    diag_print(&c.diags, err);
    if (ir) {
        StrBuf sb = {0};
        lower_dump(ir, grad, raw, stage, &sb);
        if (sb.data) fputs(sb.data, out);
        sb_free(&sb);
    }
    driver_free(&c);
    return ir ? 0 : 1;
}

int driver_summary(const char *path, FILE *out, FILE *err) {
    Compilation c;
    driver_init(&c);
    IrProgram *ir = driver_lower(&c, path);
    diag_print(&c.diags, err);
    if (ir) {
        StrBuf sb = {0};
        summary_print(ir, &sb);
        if (sb.data) fputs(sb.data, out);
        sb_free(&sb);
    }
    driver_free(&c);
    return ir ? 0 : 1;
}

int driver_dump_backend(const char *path, bool llvm, const char *stage, FILE *out, FILE *err) {
    Compilation c;
    driver_init(&c);
    IrProgram *ir = driver_lower(&c, path);
    diag_print(&c.diags, err);
    int status = 1;
    if (ir) {
        StrBuf sb = {0}, why = {0};
        if (be_dump(ir, llvm, stage, &sb, &why)) {
            if (sb.data) fputs(sb.data, out);
            status = 0;
        } else {
            fprintf(err, "%s: error: %s\n", path, why.data ? why.data : "the back end failed");
        }
        sb_free(&sb);
        sb_free(&why);
    }
    driver_free(&c);
    return status;
}

/* Everything `rlc run`'s lowering read, as one text: each source file's path and
 * contents, the processes the steps are sharded for and the dataset properties
 * read from the data. The same text lowers, with the same rlc, to the same stages
 * (be_compile_cached names their objects by it). */
static char *lowering_inputs(const Compilation *c, const DataDims *dims) {
    StrBuf sb = {0};
    for (int m = 0; m < c->program.modules.len; m++) {
        const SrcFile *f = c->program.modules.items[m]->file;
        if (!f) continue;
        sb_printf(&sb, "file %s, %zu bytes\n", f->path, f->len);
        sb_puts(&sb, f->text);
    }
    sb_printf(&sb, "procs %lld\n", (long long)procs_to_compile_for());
    for (int i = 0; i < dims->dims.len; i++) {
        const DataDim *d = &dims->dims.items[i];
        sb_printf(&sb, "%s.%s = %lld\n", d->dataset, d->property, (long long)d->value);
    }
    return sb.data;
}

static int cores_per_process(void) {
    int n = (int)sysconf(_SC_NPROCESSORS_ONLN) / rt_mpi_size();
    return n > 1 ? n : 1;
}

int driver_run(const char *path, const RunOptions *o, FILE *out, FILE *err) {
    Compilation c;
    driver_init(&c);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *cache_dir = o->interp || o->no_cache ? NULL : objcache_default_dir();
    DataDims dims = {.arena = &c.arena, .cache_dir = cache_dir};
    IrProgram *ir = lower_recording(&c, path, &dims);
    /* under mpirun every process compiles the same program: rank 0 alone speaks */
    bool root = rt_mpi_rank() == 0;
    FILE *quiet = NULL;
    if (!root && (quiet = fopen("/dev/null", "w"))) out = err = quiet;
    diag_print(&c.diags, err);
    if (!ir) {
        driver_free(&c);
        free(cache_dir);
        if (quiet) fclose(quiet);
        return 1;
    }
    if (o->stage) {
        bool found = false;
        for (int i = 0; i < ir->stages.len; i++) found |= strcmp(ir->stages.items[i].name, o->stage) == 0;
        if (!found) {
            fprintf(err, "%s: error: no stage named `%s`\n", path, o->stage);
            driver_free(&c);
            free(cache_dir);
            if (quiet) fclose(quiet);
            return 1;
        }
    }
    Backend be;
    StrBuf why = {0};
    int status = 1;
    char *inputs = cache_dir ? lowering_inputs(&c, &dims) : NULL;
    bool compiled = o->interp ? be_compile(&be, &c.arena, ir, true, &why)
                              : be_compile_cached(&be, &c.arena, ir, cache_dir, inputs, &why);
    free(inputs);
    free(cache_dir);
    if (!compiled) {
        fprintf(err, "%s: error: %s\n", path, why.data ? why.data : "the back end failed");
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    be.prog.hash = be_program_hash(&c.program);
    be.prog.procs = (int)procs_to_compile_for();
    if (!o->quiet) {
        /* CPU time of the whole process so far (loading rlc and LLVM included): on a
         * loaded machine the wall time above mostly measures the other work. */
        struct timespec cpu;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
        fprintf(out, "compile: %.1f ms (parse to ready, %s, %.1f ms CPU since rlc started",
                1e3 * ((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec)),
                o->interp ? "reference interpreter" : "LLVM JIT",
                1e3 * ((double)cpu.tv_sec + 1e-9 * (double)cpu.tv_nsec));
        int hits = 0, misses = 0;
        if (be.jit) jit_cache_counts(be.jit, &hits, &misses);
        if (hits + misses) fprintf(out, ", %d of %d steps from the cache", hits, hits + misses);
        fputs(")\n", out);
    }
    FILE *step_log = NULL;
    if (o->step_log && root && !(step_log = fopen(o->step_log, "w"))) {
        fprintf(err, "%s: error: cannot write %s: %s\n", path, o->step_log, strerror(errno));
        goto done;
    }
    rt_run_options ro = {
        .stage = o->stage,
        .epochs = o->epochs,
        .steps = o->steps,
        .limit = o->limit,
        /* every core by default, shared among the processes of a data-parallel run */
        .threads = o->threads > 0 ? o->threads : cores_per_process(),
        .override_seed = o->override_seed,
        .seed = o->seed,
        .quiet = o->quiet,
        .resume = o->resume,
        .out = out,
        .step_log = step_log,
    };
    rt_error rerr = {0};
    bool ok = rt_run_program(&be.prog, &ro, &rerr);
    if (step_log && fclose(step_log) != 0 && ok) {
        rt_fail(&rerr, "cannot write %s: %s", o->step_log, strerror(errno));
        ok = false;
    }
    if (!ok) rt_mpi_report(err, path, &rerr);
    status = ok ? 0 : 1;
done:
    be_free(&be);
    sb_free(&why);
    driver_free(&c);
    if (quiet) fclose(quiet);
    return status;
}

int driver_build(const char *path, const BuildOptions *o, FILE *out, FILE *err) {
    Compilation c;
    driver_init(&c);
    DataDims rec = {.arena = &c.arena};
    IrProgram *ir = lower_recording(&c, path, &rec);
    diag_print(&c.diags, err);
    if (!ir) {
        driver_free(&c);
        return 1;
    }
    Backend be;
    StrBuf why = {0};
    bool ok = be_plan(&be, &c.arena, ir, &why);
    if (ok) {
        be.prog.hash = be_program_hash(&c.program);
        be.prog.procs = (int)procs_to_compile_for();
        rt_dim_check *checks = arena_alloc(&c.arena, sizeof *checks * (size_t)(rec.dims.len + 1));
        int n = 0;
        for (int i = 0; i < rec.dims.len; i++) {
            const DataDim *d = &rec.dims.items[i];
            for (int k = 0; k < ir->datasets.len; k++)
                if (strcmp(ir->datasets.items[k]->name, d->dataset) == 0)
                    checks[n++] = (rt_dim_check){.dataset = k, .property = d->property, .value = d->value};
        }
        AotOptions ao = {.output = o->output, .target = o->target, .cpu = o->cpu, .features = o->features};
        ok = aot_build(&be, checks, n, &ao, &why);
    }
    if (ok && !o->quiet) fprintf(out, "built %s from %s\n", o->output, path);
    if (!ok) fprintf(err, "%s: error: %s\n", path, why.data ? why.data : "the back end failed");
    be_free(&be);
    sb_free(&why);
    driver_free(&c);
    return ok ? 0 : 1;
}

int driver_version(FILE *out) {
    char version[96];
    objcache_version(version, sizeof version);
    fprintf(out, "%s\n", version);
    return 0;
}

static int gradcheck(const char *path, const GradcheckOptions *o, FILE *out, FILE *err);

GradcheckOptions driver_gradcheck_defaults(void) {
    return (GradcheckOptions){.batch = 4, .small_dims = 6, .seed = 1, .tolerance = 1e-4};
}

int driver_gradcheck(const char *path, const GradcheckOptions *o, FILE *out, FILE *err) {
    /* under mpirun (a check of the collectives' gradients): rank 0 alone speaks */
    FILE *quiet = rt_mpi_rank() != 0 ? fopen("/dev/null", "w") : NULL;
    if (quiet) out = err = quiet;
    int status = gradcheck(path, o, out, err);
    if (quiet) fclose(quiet);
    return status;
}

static int gradcheck(const char *path, const GradcheckOptions *o, FILE *out, FILE *err) {
    Compilation c;
    driver_init(&c);
    IrProgram *ir = NULL;
    if (driver_front(&c, path)) {
        LowerOptions lo = {.small_dims = o->small_dims, .batch = o->batch, .procs = procs_to_compile_for()};
        ir = lower_program(&c.program, &c.diags, &lo);
    }
    diag_print(&c.diags, err);
    if (!ir) {
        driver_free(&c);
        return 1;
    }
    bool pass = true, found = false;
    int checked = 0;
    StrBuf sb = {0};
    for (int i = 0; i < ir->stages.len; i++) {
        const IrStage *st = &ir->stages.items[i];
        if (o->stage && strcmp(st->name, o->stage) != 0) continue;
        found = true;
        if (!st->is_train) {
            sb_printf(&sb, "stage %s: eval stage, no gradients: skipped\n", st->name);
            continue;
        }
        sb_printf(&sb, "stage %s (B = %lld):\n", st->name, (long long)st->batch);
        StrBuf rep = {0};
        pass &= ir_gradcheck(st->graph, st->batch, o->seed, o->tolerance, &rep);
        checked++;
        /* ir_gradcheck writes one line a param: indent them under their stage */
        for (const char *line = rep.data; line && *line;) {
            const char *nl = strchr(line, '\n');
            int len = nl ? (int)(nl - line) : (int)strlen(line);
            sb_printf(&sb, "  %.*s\n", len, line);
            line += len + (nl != NULL);
        }
        sb_free(&rep);
    }
    if (sb.data) fputs(sb.data, out);
    sb_free(&sb);
    if (o->stage && !found) {
        fprintf(err, "%s: error: no stage named `%s`\n", path, o->stage);
        pass = false;
    } else {
        fprintf(out, "gradcheck: %d train stage%s, %s (tolerance %g)\n", checked,
                checked == 1 ? "" : "s", pass ? "every gradient within tolerance" : "FAILED", o->tolerance);
    }
    driver_free(&c);
    return pass ? 0 : 1;
}
