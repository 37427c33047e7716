/* trainer.c — the training loop every way of running a program shares: load the
 * datasets once, keep one parameter store across stages (by name), and per stage:
 * init/load, epochs of shuffled batches through the compiled step, averages,
 * validation, atomic saves, metrics, and a stop with a message when the loss goes
 * non-finite. It prints progress; everything else it reports as values. */
#define _POSIX_C_SOURCE 200809L
#include "rlrt.h"
#include "fileio.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ parameter store */

typedef struct param {
    char *name;
    int rank;
    int64_t dims[RT_MAX_RANK];
    int64_t numel;
    float *data;
} param;

/* Each parameter is allocated on its own and never moves: stages keep `param *`
 * for as long as they run while later stages add parameters to the store, so
 * the store's growing array holds pointers, never the parameters themselves. */
typedef struct store {
    param **p;
    int n, cap;
} store;

static int64_t spec_numel(const rt_param_spec *s) {
    int64_t n = 1;
    for (int d = 0; d < s->rank; d++) n *= s->dims[d];
    return n;
}

static void shape_str(int rank, const int64_t *dims, char *buf, size_t cap) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < rank && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%" PRId64, d ? ", " : "", dims[d]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

/* Whether this process writes whole parameters and optimizer state outside a
 * step (initialising, loading, resuming, replaying): with sliced updates they are
 * one copy that every process reads (docs/mpi.md), so process 0 alone writes it
 * and a fence (rt_mpi_update_fence) follows before anyone reads it. */
static bool writes_params(void) { return !rt_mpi_sliced_updates() || rt_mpi_rank() == 0; }

/* The stored parameter of that name, created and initialised from (seed, name) on
 * first use; a later stage must agree on its shape. */
static param *store_get(store *st, const rt_param_spec *s, uint64_t seed, rt_error *err) {
    for (int i = 0; i < st->n; i++) {
        param *p = st->p[i];
        if (strcmp(p->name, s->name) != 0) continue;
        bool same = p->rank == s->rank;
        for (int d = 0; same && d < s->rank; d++) same = p->dims[d] == s->dims[d];
        if (!same) {
            char a[96], b[96];
            shape_str(p->rank, p->dims, a, sizeof a);
            shape_str(s->rank, s->dims, b, sizeof b);
            rt_fail(err, "parameter %s is %s in an earlier stage but %s here", s->name, a, b);
            return NULL;
        }
        return p;
    }
    if (st->n == st->cap) {
        int nc = st->cap ? st->cap * 2 : 16;
        param **np = realloc(st->p, (size_t)nc * sizeof *np);
        if (!np) goto oom;
        st->p = np;
        st->cap = nc;
    }
    param *p = calloc(1, sizeof *p);
    if (!p) goto oom;
    p->name = malloc(strlen(s->name) + 1);
    p->numel = spec_numel(s);
    p->data = rt_mpi_param_alloc((size_t)(p->numel ? p->numel : 1) * sizeof(float));
    if (!p->name || !p->data) {
        free(p->name);
        rt_mpi_param_free(p->data);
        free(p);
        goto oom;
    }
    strcpy(p->name, s->name);
    p->rank = s->rank;
    memcpy(p->dims, s->dims, sizeof p->dims);
    if (writes_params()) rt_init_param(p->data, s->dims, s->rank, s->init, s->a, s->b, seed, s->name);
    st->p[st->n++] = p;
    return p;
oom:
    rt_fail(err, "out of memory for parameter %s", s->name);
    return NULL;
}

static void store_free(store *st) {
    for (int i = 0; i < st->n; i++) {
        free(st->p[i]->name);
        rt_mpi_param_free(st->p[i]->data);
        free(st->p[i]);
    }
    free(st->p);
}

/* ------------------------------------------------------------ a run */

typedef struct run {
    const rt_program *prog;
    const rt_run_options *opt;
    rt_dataset **data;
    store st;
    rt_pool *pool;
    FILE *out;
    bool tty;
    const char *runs_dir;
    /* Data-parallel (docs/mpi.md): `procs` processes, this one `rank`; only rank 0
     * (root) prints and writes files. */
    int procs, rank;
    bool root;
} run;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static bool make_dirs(const char *path, rt_error *err) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                rt_fail(err, "cannot create folder %s: %s", buf, strerror(errno));
                return false;
            }
            if (!c) return true;
            *p = c;
        }
    }
}

static rt_dataset *dataset_of(run *r, int index, rt_error *err) {
    if (index < 0 || index >= r->prog->n_datasets) {
        rt_fail(err, "dataset index %d out of range", index);
        return NULL;
    }
    if (!r->data[index]) r->data[index] = rt_dataset_load(&r->prog->datasets[index], err);
    return r->data[index];
}

/* Everything one stage's steps need, allocated once for the largest batch. */
typedef struct stage_run {
    const rt_stage *s;
    rt_dataset *ds;
    uint64_t seed;
    int64_t limit;            /* examples per epoch: stage_limit */
    int *fields;
    void **inputs;
    float **params, **opt_state;
    param **stored;
    float *reports;
    void *workspace;
    float loss;
    int procs, rank;          /* each step computes rows/procs rows of its batch from row rank*that */
    rt_step_ctx ctx;
} stage_run;

static void stage_release(stage_run *sr) {
    if (sr->opt_state)
        for (int i = 0; i < sr->s->n_params; i++) rt_mpi_param_free(sr->opt_state[i]);
    if (sr->inputs)
        for (int i = 0; i < sr->s->n_inputs; i++) free(sr->inputs[i]);
    free(sr->fields);
    free(sr->inputs);
    free(sr->params);
    free(sr->opt_state);
    free(sr->stored);
    free(sr->reports);
    rt_mpi_workspace_free(sr->workspace);
    memset(sr, 0, sizeof *sr);
}

static int opt_copies(const rt_optimizer *o) { return o->kind == RT_OPT_SGD ? 1 : 2; }

/* report: where a load that matches only in part says what it took (NULL: nowhere). */
static bool load_params(const stage_run *sr, const char *path, FILE *report, rt_error *err) {
    rt_ckpt *c = rt_ckpt_read(path, err);
    if (!c) return false;
    const rt_stage *s = sr->s;
    rt_tensor_ref *t = calloc((size_t)s->n_params + 1, sizeof *t);
    /* a process that does not write the parameters checks the file the same way,
     * copying each tensor into a scratch buffer */
    int64_t most = 0;
    for (int i = 0; i < s->n_params; i++) most = sr->stored[i]->numel > most ? sr->stored[i]->numel : most;
    float *scratch = writes_params() ? NULL : malloc((size_t)(most + 1) * sizeof *scratch);
    bool ok = t != NULL && (writes_params() || scratch);
    for (int i = 0; ok && i < s->n_params; i++) {
        t[i].name = s->params[i].name;
        t[i].rank = s->params[i].rank;
        memcpy(t[i].dims, s->params[i].dims, sizeof t[i].dims);
        t[i].data = scratch ? scratch : sr->params[i];
    }
    ok = ok && rt_ckpt_load_into(c, t, s->n_params, err) >= 0;
    char summary[1024];
    if (ok && report && rt_ckpt_load_summary(c, t, s->n_params, summary, sizeof summary))
        fprintf(report, "stage %s: %s\n", s->name, summary);
    free(t);
    free(scratch);
    rt_ckpt_free(c);
    return ok;
}

static bool frozen(const rt_stage *s, const char *name) {
    for (int k = 0; k < s->n_freeze; k++) {
        size_t n = strlen(s->freeze[k]);
        if (strncmp(name, s->freeze[k], n) == 0 && name[n] == '.') return true;
    }
    return false;
}

/* Examples per epoch: the stage's `limit` and the run's, the smaller one (0: all). */
static int64_t stage_limit(const run *r, const rt_stage *s) {
    int64_t a = s->limit, b = r->opt->limit;
    if (a <= 0) return b > 0 ? b : 0;
    return b > 0 && b < a ? b : a;
}

/* validating: an eval stage run inside a train stage sees the parameters being
 * trained, so its own `load` is skipped there. */
static bool stage_prepare(run *r, const rt_stage *s, bool validating, stage_run *sr, rt_error *err) {
    memset(sr, 0, sizeof *sr);
    sr->s = s;
    sr->seed = r->opt->override_seed ? r->opt->seed : s->seed;
    sr->limit = stage_limit(r, s);
    sr->procs = r->procs;
    sr->rank = r->rank;
    if (s->batch <= 0) {
        rt_fail(err, "stage %s: batch must be positive", s->name);
        return false;
    }

    if (!(sr->ds = dataset_of(r, s->dataset, err))) return false;
    int np = s->n_params, ni = s->n_inputs;
    sr->fields = calloc((size_t)ni + 1, sizeof *sr->fields);
    sr->inputs = calloc((size_t)ni + 1, sizeof *sr->inputs);
    sr->params = calloc((size_t)np + 1, sizeof *sr->params);
    sr->opt_state = calloc((size_t)np + 1, sizeof *sr->opt_state);
    sr->stored = calloc((size_t)np + 1, sizeof *sr->stored);
    sr->reports = calloc((size_t)s->n_reports + 1, sizeof *sr->reports);
    if (!sr->fields || !sr->inputs || !sr->params || !sr->opt_state || !sr->stored || !sr->reports)
        goto oom;
    for (int i = 0; i < ni; i++) {
        int f = rt_dataset_field_index(sr->ds, s->inputs[i]);
        if (f < 0) {
            rt_fail(err, "stage %s: dataset %s has no field %s", s->name,
                    r->prog->datasets[s->dataset].name, s->inputs[i]);
            return false;
        }
        sr->fields[i] = f;
        sr->inputs[i] = malloc((size_t)(s->batch * rt_dataset_field_numel(sr->ds, f)) * 4 + 4);
        if (!sr->inputs[i]) goto oom;
    }
    for (int i = 0; i < np; i++) {
        param *p = store_get(&r->st, &s->params[i], sr->seed, err);
        if (!p) return false;
        sr->stored[i] = p;
        sr->params[i] = p->data;
        if (s->train && s->params[i].trained && !frozen(s, s->params[i].name)) {
            int64_t n = p->numel * opt_copies(&s->opt);
            if (!(sr->opt_state[i] = rt_mpi_param_alloc((size_t)n * sizeof(float)))) goto oom;
        }
    }
    if (s->load && !validating && !load_params(sr, s->load, r->opt->quiet ? NULL : r->out, err))
        return false;
    rt_mpi_update_fence();
    size_t ws = s->workspace_bytes ? s->workspace_bytes(s->user, s->batch) : 0;
    if (ws && !(sr->workspace = rt_mpi_workspace_alloc(ws))) goto oom;
    sr->ctx = (rt_step_ctx){
        .seed = sr->seed, .params = sr->params, .opt_state = sr->opt_state,
        .inputs = (void *const *)sr->inputs, .loss = &sr->loss, .reports = sr->reports,
        .workspace = sr->workspace, .pool = r->pool, .lr = (float)s->opt.lr,
    };
    return true;
oom:
    rt_fail(err, "stage %s: out of memory", s->name);
    return false;
}


/* Fills this process's share of batch b (all of it, unsharded: the process reads
 * and computes rows/procs rows from row rank*that) into `inputs`; returns its rows. */
static int64_t fill_share(const stage_run *sr, int64_t b, void **inputs) {
    const rt_stage *s = sr->s;
    int64_t share = rt_dataset_batch_rows(sr->ds, b, s->batch) / sr->procs;
    return rt_dataset_fill_range(sr->ds, b, s->batch, share * sr->rank, share, sr->fields, s->n_inputs, inputs);
}

/* Runs the step on the batch in sr->inputs (ctx.B rows). */
static void run_step(stage_run *sr) {
    const rt_stage *s = sr->s;
    sr->loss = 0;
    for (int k = 0; k < s->n_reports; k++) sr->reports[k] = 0;
    s->step(s->user, &sr->ctx);
}

/* Runs batch b of the current epoch; returns its row count (the whole batch's
 * when sharded). */
static int64_t run_batch(stage_run *sr, int64_t b) {
    sr->ctx.B = fill_share(sr, b, sr->inputs);
    run_step(sr);
    return rt_dataset_batch_rows(sr->ds, b, sr->s->batch);
}

/* The next batch, filled by a pool worker while the step runs (rt_pool_side_start).
 * Only after a step that posted no pool jobs of its own, whose worker therefore sat
 * idle (skip-gram: its step is kept on one thread, docs/performance.md): a step that
 * splits its kernels would first wait for the fill. The batch is the same whichever
 * thread fills it, so the run is bit for bit the same. On a machine busier than its
 * cores the worker may not run for milliseconds: the fill is claimed by whichever
 * thread gets to it first, so the caller then fills the batch itself instead of
 * waiting, and starts no new fill while the worker has not finished the last. */
typedef struct prefetch {
    const stage_run *sr;
    void **inputs;  /* a second set of input buffers; NULL: no prefetch (one thread) */
    int64_t batch;  /* the batch they hold or are being filled with; -1: none */
    int64_t B;      /* its rows */
    atomic_bool claimed; /* a thread has taken the fill of `batch` */
    bool idle;      /* the last step posted no pool jobs */
} prefetch;

static void prefetch_fill(void *ctx, int64_t lo, int64_t hi) {
    (void)lo;
    (void)hi;
    prefetch *pf = ctx;
    if (atomic_exchange(&pf->claimed, true)) return; /* the caller took it */
    pf->B = fill_share(pf->sr, pf->batch, pf->inputs);
}

/* Second input buffers when the pool has a worker to fill them; false: out of memory. */
static bool prefetch_init(prefetch *pf, const stage_run *sr) {
    *pf = (prefetch){.sr = sr, .batch = -1};
    if (rt_pool_threads(sr->ctx.pool) < 2) return true;
    const rt_stage *s = sr->s;
    if (!(pf->inputs = calloc((size_t)s->n_inputs + 1, sizeof *pf->inputs))) return false;
    for (int i = 0; i < s->n_inputs; i++) {
        size_t bytes = (size_t)(s->batch * rt_dataset_field_numel(sr->ds, sr->fields[i])) * 4 + 4;
        if (!(pf->inputs[i] = malloc(bytes))) return false;
    }
    return true;
}

/* Forgets a fill in flight and waits for its worker (before anything else reads
 * the dataset or starts another epoch). */
static void prefetch_drop(prefetch *pf) {
    atomic_store(&pf->claimed, true);
    rt_pool_side_wait(pf->sr->ctx.pool);
    pf->batch = -1;
}

static void prefetch_free(prefetch *pf, int n_inputs) {
    if (pf->sr) prefetch_drop(pf);
    if (pf->inputs)
        for (int i = 0; i < n_inputs; i++) free(pf->inputs[i]);
    free(pf->inputs);
}

/* run_batch with prefetch: batch b from the side fill when it holds b, and the
 * fill of batch `next` (< 0: none) started before the step. */
static int64_t run_batch_prefetching(stage_run *sr, prefetch *pf, int64_t b, int64_t next) {
    if (!pf->inputs) return run_batch(sr, b);
    rt_pool *pool = sr->ctx.pool;
    /* the worker's fill: wait for it when it has begun, else take it over */
    bool filled = pf->batch == b && atomic_exchange(&pf->claimed, true);
    if (filled) rt_pool_side_wait(pool);
    if (filled) {
        for (int i = 0; i < sr->s->n_inputs; i++) {
            void *t = sr->inputs[i];
            sr->inputs[i] = pf->inputs[i];
            pf->inputs[i] = t;
        }
        sr->ctx.B = pf->B;
    } else {
        sr->ctx.B = fill_share(sr, b, sr->inputs);
    }
    pf->batch = -1;
    if (next >= 0 && pf->idle && !rt_pool_side_running(pool)) {
        pf->batch = next;
        atomic_store(&pf->claimed, false);
        if (!rt_pool_side_start(pool, prefetch_fill, pf)) pf->batch = -1;
    }
    uint64_t jobs = rt_pool_jobs(pool);
    run_step(sr);
    pf->idle = rt_pool_jobs(pool) == jobs;
    return rt_dataset_batch_rows(sr->ds, b, sr->s->batch);
}

/* Sharded: the epoch's last batch, when partial, must split evenly too. */
static bool last_batch_shares(const run *r, const stage_run *sr, rt_error *err) {
    int64_t last = rt_dataset_epoch_size(sr->ds) % sr->s->batch;
    if (last % r->procs == 0) return true;
    rt_fail(err, "stage %s: the last batch of an epoch holds %" PRId64 " examples (%" PRId64 " examples, batch %"
            PRId64 "), not a multiple of the %d processes (mpirun -np %d): change `batch` or `limit`",
            sr->s->name, last, rt_dataset_epoch_size(sr->ds), sr->s->batch, r->procs, r->procs);
    err->everywhere = true;
    return false;
}

/* An eval stage over its data: row-weighted averages of loss and reports. */
static bool run_eval(run *r, const rt_stage *s, bool validating, double *loss, double *reports,
                     rt_error *err) {
    stage_run sr;
    bool ok = stage_prepare(r, s, validating, &sr, err);
    if (ok) {
        rt_dataset_begin_epoch(sr.ds, sr.seed, 0, false, stage_limit(r, s));
        ok = last_batch_shares(r, &sr, err);
    }
    if (ok) {
        int64_t nb = rt_dataset_batches(sr.ds, s->batch), rows_total = 0;
        double lsum = 0;
        for (int k = 0; k < s->n_reports; k++) reports[k] = 0;
        for (int64_t b = 0; b < nb; b++) {
            sr.ctx.step = b;
            int64_t rows = run_batch(&sr, b);
            rows_total += rows;
            lsum += (double)sr.loss * (double)rows;
            for (int k = 0; k < s->n_reports; k++) reports[k] += (double)sr.reports[k] * (double)rows;
        }
        double div = rows_total ? (double)rows_total : 1.0;
        *loss = lsum / div;
        for (int k = 0; k < s->n_reports; k++) reports[k] /= div;
    }
    stage_release(&sr);
    return ok;
}

static void print_reports(FILE *out, const rt_stage *s, const double *v, const char *prefix) {
    for (int k = 0; k < s->n_reports; k++) fprintf(out, "  %s%s %.4f", prefix, s->reports[k], v[k]);
}

/* ------------------------------------------------------------ saving and resuming */

/* Where a train stage's run stands between two steps: everything that, with the
 * parameters and optimizer state, decides the rest of the run. The data order and
 * every random draw are functions of (seed, epoch) and (seed, step), so the epoch,
 * the batch within it and the step are the whole position. rows, loss and reports
 * are the sums so far of the epoch under way, for its averages. */
typedef struct train_pos {
    int64_t epoch;            /* 0-based: the epoch of the next step */
    int64_t batch;            /* the next step's batch within that epoch */
    int64_t step;             /* steps done */
    int64_t rows;
    double loss;
    double *reports;          /* n_reports sums; NULL: all 0 */
    bool finished;            /* the stage has run its last step */
} train_pos;

/* What must be the same for a run to continue another: a file from a run with
 * other settings would continue a different sequence of steps. The thread count
 * is recorded apart (it changes at most the last bits of split products). */
static void run_settings(const stage_run *sr, int64_t epochs, int64_t max_steps, int64_t per_epoch,
                         char *buf, size_t cap) {
    static const char *const opts[] = {"sgd", "adam", "adamw"};
    const rt_stage *s = sr->s;
    snprintf(buf, cap, "seed=%" PRIu64 " batch=%" PRId64 " limit=%" PRId64 " batches_per_epoch=%"
             PRId64 " epochs=%" PRId64 " steps=%" PRId64 " optimizer=%s", sr->seed, s->batch, sr->limit,
             per_epoch, max_steps > 0 ? 0 : epochs, max_steps, opts[s->opt.kind]);
}

static const char *opt_kind_name(const rt_optimizer *o, int copy) {
    return o->kind == RT_OPT_SGD ? "mom" : copy == 0 ? "m" : "v";
}

/* The stage's parameters, their optimizer state as "__opt__.KIND.PARAM" tensors,
 * and the run's position in the metadata (docs/runtime.md, Resume). */
static bool save_stage(run *r, stage_run *sr, const train_pos *pos, const char *settings,
                       rt_error *err) {
    if (!r->root) return true;
    const rt_stage *s = sr->s;
    int np = s->n_params, copies = opt_copies(&s->opt);
    rt_tensor_ref *t = calloc((size_t)np * 3 + 1, sizeof *t);
    char **names = calloc((size_t)np * 3 + 1, sizeof *names);
    bool ok = t && names;
    int n = 0;
    for (int i = 0; ok && i < np; i++) {
        param *p = sr->stored[i];
        t[n++] = (rt_tensor_ref){p->name, p->rank, {0}, p->data};
        memcpy(t[n - 1].dims, p->dims, sizeof p->dims);
        for (int c = 0; sr->opt_state[i] && c < copies; c++) {
            size_t len = strlen(p->name) + 16;
            if (!(names[n] = malloc(len))) {
                ok = false;
                break;
            }
            snprintf(names[n], len, "__opt__.%s.%s", opt_kind_name(&s->opt, c), p->name);
            t[n] = (rt_tensor_ref){names[n], p->rank, {0}, sr->opt_state[i] + c * p->numel};
            memcpy(t[n].dims, p->dims, sizeof p->dims);
            n++;
        }
    }
    /* Sums as hex floats (%a): read back exactly, so a resumed epoch's average is
     * the uninterrupted one's. */
    char hash[32], st[32], ep[32], rng[96], cursor[64], threads[32];
    size_t sums_cap = 64 + 32 * (size_t)s->n_reports;
    char *epoch_sums = malloc(sums_cap);
    ok = ok && epoch_sums;
    if (epoch_sums) {
        size_t used = (size_t)snprintf(epoch_sums, sums_cap, "rows=%" PRId64 " loss=%a reports=", pos->rows,
                                       pos->loss);
        for (int k = 0; k < s->n_reports && used < sums_cap; k++)
            used += (size_t)snprintf(epoch_sums + used, sums_cap - used, "%s%a", k ? "," : "",
                                     pos->reports ? pos->reports[k] : 0.0);
    }
    snprintf(hash, sizeof hash, "%016" PRIx64, r->prog->hash);
    snprintf(st, sizeof st, "%" PRId64, pos->step);
    snprintf(ep, sizeof ep, "%" PRId64, pos->epoch);   /* epochs completed */
    snprintf(rng, sizeof rng, "philox4x32-10 seed=%" PRIu64 " step=%" PRId64, sr->seed, pos->step);
    snprintf(cursor, sizeof cursor, "epoch=%" PRId64 " batch=%" PRId64, pos->epoch, pos->batch);
    snprintf(threads, sizeof threads, "%d", rt_pool_threads(r->pool));
    rt_meta meta[] = {{"format", RT_CKPT_FORMAT}, {"program", hash},
                      {"source", r->prog->name ? r->prog->name : ""}, {"stage", s->name},
                      {"finished", pos->finished ? "true" : "false"}, {"step", st}, {"epoch", ep},
                      {"rng", rng}, {"data_cursor", cursor}, {"run", settings},
                      {"threads", threads}, {"epoch_sums", epoch_sums ? epoch_sums : ""}};
    if (!ok) rt_fail(err, "%s: out of memory while saving", s->save);
    /* the vocabulary first: a parameter file on disk always has its vocabulary */
    if (ok && rt_dataset_vocab_size(sr->ds) > 0) {
        char vp[1100];
        snprintf(vp, sizeof vp, "%s.vocab", s->save);
        ok = rt_dataset_write_vocab(sr->ds, vp, err);
    }
    if (ok) ok = rt_ckpt_write(s->save, t, n, meta, (int)(sizeof meta / sizeof *meta), err);
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
    free(t);
    free(epoch_sums);
    return ok;
}

/* Copies tensor `name` of c into dst (numel values of the stage's shape). */
static bool resume_tensor(const rt_ckpt *c, const char *path, const char *name, const param *p,
                          float *dst, rt_error *err) {
    const rt_tensor_ref *t = rt_ckpt_find(c, name);
    bool same = t && t->rank == p->rank;
    for (int d = 0; same && d < p->rank; d++) same = t->dims[d] == p->dims[d];
    if (!same) {
        char want[96];
        shape_str(p->rank, p->dims, want, sizeof want);
        rt_fail(err, "%s: cannot resume: %s %s", path, name,
                t ? "has another shape than here" : "is missing");
        if (t) {
            size_t used = strlen(err->msg);
            snprintf(err->msg + used, sizeof err->msg - used, " (%s here)", want);
        }
        return false;
    }
    if (writes_params()) memcpy(dst, t->data, (size_t)p->numel * sizeof(float));
    return true;
}

static bool parse_sums(const char *text, int n_reports, train_pos *pos) {
    int used = 0;
    if (sscanf(text, "rows=%" SCNd64 " loss=%la reports=%n", &pos->rows, &pos->loss, &used) != 2) return false;
    const char *p = text + used;
    for (int k = 0; k < n_reports; k++) {
        char *end;
        pos->reports[k] = strtod(p, &end);
        if (end == p || (*end != ',' && *end != 0)) return false;
        p = *end == ',' ? end + 1 : end;
    }
    return *p == 0;
}

typedef enum { RESUME_FRESH, RESUME_CONTINUE, RESUME_FINISHED, RESUME_ERROR } resume_kind;

/* With --resume: reads the stage's save file, if there is one, and checks that it
 * comes from this program, this stage and a run with the same settings. A
 * finished run's parameters are put in the store (later stages see them as if
 * the stage had run); an unfinished one's also its optimizer state and position. */
static resume_kind resume_stage(run *r, stage_run *sr, const char *settings, train_pos *pos,
                                rt_error *err) {
    const rt_stage *s = sr->s;
    const char *path = s->save;
    if (!r->opt->resume || !path) return RESUME_FRESH;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        fprintf(r->out, "%s: no %s yet: starting from step 0\n", s->name, path);
        return RESUME_FRESH;
    }
    rt_ckpt *c = rt_ckpt_read(path, err);
    if (!c) return RESUME_ERROR;
    resume_kind kind = RESUME_ERROR;
    char hash[32];
    snprintf(hash, sizeof hash, "%016" PRIx64, r->prog->hash);
    const char *format = rt_ckpt_meta(c, "format"), *prog = rt_ckpt_meta(c, "program");
    const char *stage = rt_ckpt_meta(c, "stage"), *finished = rt_ckpt_meta(c, "finished");
    const char *source = rt_ckpt_meta(c, "source"), *run_was = rt_ckpt_meta(c, "run");
    const char *cursor = rt_ckpt_meta(c, "data_cursor"), *step = rt_ckpt_meta(c, "step");
    const char *sums = rt_ckpt_meta(c, "epoch_sums"), *threads = rt_ckpt_meta(c, "threads");
    int64_t cur_epoch = -1, cur_batch = -1;
    char *end = NULL;
    if (!format || strcmp(format, RT_CKPT_FORMAT) != 0 || !prog || !stage || !finished || !run_was ||
        !cursor || !step || !sums) {
        rt_fail(err, "stage %s: cannot resume from %s: it records no resumable run of rlc (written by "
                "another tool or an older rlc); move it away to start afresh", s->name, path);
    } else if (strcmp(prog, hash) != 0) {
        rt_fail(err, "stage %s: cannot resume from %s: it was written by another program (%s, program "
                "hash %s; this is %s, hash %s); move it away to start afresh", s->name, path,
                source && *source ? source : "unnamed", prog, r->prog->name ? r->prog->name : "unnamed",
                hash);
    } else if (strcmp(stage, s->name) != 0) {
        rt_fail(err, "stage %s: cannot resume from %s: it was written by stage %s, not %s", s->name,
                path, stage, s->name);
    } else if (strcmp(run_was, settings) != 0) {
        rt_fail(err, "stage %s: cannot resume from %s: it records a run with %s, but this run has %s "
                "(resume with the same --steps, --epochs, --limit and --seed, on the same data)",
                s->name, path, run_was, settings);
    } else if (sscanf(cursor, "epoch=%" SCNd64 " batch=%" SCNd64, &cur_epoch, &cur_batch) != 2 ||
               cur_epoch < 0 || cur_batch < 0 || (pos->step = strtoll(step, &end, 10)) < 0 || *end ||
               !parse_sums(sums, s->n_reports, pos)) {
        rt_fail(err, "stage %s: cannot resume from %s: its run state is damaged (data_cursor '%s', "
                "step '%s')", s->name, path, cursor, step);
    } else {
        kind = strcmp(finished, "true") == 0 ? RESUME_FINISHED : RESUME_CONTINUE;
    }
    int copies = opt_copies(&s->opt);
    for (int i = 0; kind != RESUME_ERROR && i < s->n_params; i++) {
        param *p = sr->stored[i];
        if (!resume_tensor(c, path, p->name, p, p->data, err)) kind = RESUME_ERROR;
        for (int k = 0; kind == RESUME_CONTINUE && sr->opt_state[i] && k < copies; k++) {
            char name[512];
            snprintf(name, sizeof name, "__opt__.%s.%s", opt_kind_name(&s->opt, k), p->name);
            if (!resume_tensor(c, path, name, p, sr->opt_state[i] + k * p->numel, err)) kind = RESUME_ERROR;
        }
    }
    if (kind == RESUME_FINISHED) {
        fprintf(r->out, "%s: already finished in %s (step %" PRId64 "): skipped\n", s->name, path, pos->step);
    } else if (kind == RESUME_CONTINUE) {
        pos->epoch = cur_epoch;
        pos->batch = cur_batch;
        fprintf(r->out, "%s: resuming from %s at step %" PRId64 " (epoch %" PRId64 ", batch %" PRId64 ")\n",
                s->name, path, pos->step, cur_epoch + 1, cur_batch + 1);
        if (threads && atoi(threads) != rt_pool_threads(r->pool))
            fprintf(r->out, "%s: note: the run began with %s threads and goes on with %d: large matrix "
                    "products may differ in the last bits from an uninterrupted run\n", s->name,
                    threads, rt_pool_threads(r->pool));
    }
    rt_ckpt_free(c);
    return kind;
}

/* ------------------------------------------------------------ the end hook */

/* The sampler's parameters, fetched by name from the store (the stage's are all
 * there by then), and the samples drawn. */
static bool stage_samples(run *r, const rt_stage *s, rt_dataset *ds, const char *dir, uint64_t seed,
                          rt_error *err) {
    const rt_sampler *sm = s->sample;
    float **params = calloc((size_t)sm->n_params + 1, sizeof *params);
    if (!params) {
        rt_fail(err, "stage %s: out of memory", s->name);
        return false;
    }
    bool ok = true;
    for (int i = 0; ok && i < sm->n_params; i++) {
        param *p = store_get(&r->st, &sm->params[i], seed, err);
        if (p) params[i] = p->data;
        else ok = false;
    }
    ok = ok && rt_sample_run(sm, s->name, ds, stage_limit(r, s), seed, params, r->pool, dir,
                             r->opt->quiet ? NULL : r->out, err);
    free(params);
    return ok;
}

/* Hands the stage's parameters (by then all in the store) and its data to its
 * at_end hook and its sampler, with RUNS/STAGE created for what they write. */
static bool stage_end(run *r, const rt_stage *s, rt_error *err) {
    if ((!s->at_end && !s->sample) || !r->root) return true;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", r->runs_dir, s->name);
    if (!make_dirs(dir, err)) return false;
    rt_dataset *ds = dataset_of(r, s->dataset, err);
    if (!ds) return false;
    uint64_t seed = r->opt->override_seed ? r->opt->seed : s->seed;
    float **params = calloc((size_t)s->n_params + 1, sizeof *params);
    if (!params) {
        rt_fail(err, "stage %s: out of memory", s->name);
        return false;
    }
    bool ok = true;
    for (int i = 0; ok && i < s->n_params; i++) {
        param *p = store_get(&r->st, &s->params[i], seed, err);
        if (p) params[i] = p->data;
        else ok = false;
    }
    rt_stage_end end = {.dir = dir, .data = ds, .limit = stage_limit(r, s), .seed = seed,
                        .params = params, .out = r->opt->quiet ? NULL : r->out};
    ok = ok && (!s->at_end || s->at_end(s->user, &end, err));
    free(params);
    return ok && (!s->sample || stage_samples(r, s, ds, dir, seed, err));
}

/* ------------------------------------------------------------ train */

/* A comma-separated line, built by appending (what does not fit is cut). */
typedef struct csv_line {
    char text[1 << 14];
    size_t n;
} csv_line;

static void csv_add(csv_line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void csv_add(csv_line *l, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (l->n < sizeof l->text) {
        int w = vsnprintf(l->text + l->n, sizeof l->text - l->n, fmt, ap);
        if (w > 0) l->n += (size_t)w;
    }
    va_end(ap);
}

/* RUNS/STAGE/metrics.csv, appended to: one row per epoch (fileio.h). */
static rt_metrics *open_metrics(run *r, const rt_stage *s, const rt_stage *val, rt_error *err) {
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/%s", r->runs_dir, s->name);
    if (!make_dirs(dir, err)) return NULL;
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    csv_line h = {.n = 0};
    csv_add(&h, "epoch,step,loss");
    for (int k = 0; k < s->n_reports; k++) csv_add(&h, ",%s", s->reports[k]);
    for (int k = 0; val && k < val->n_reports; k++) csv_add(&h, ",%s.%s", val->name, val->reports[k]);
    csv_add(&h, ",time");
    return rt_metrics_open(path, h.text, err);
}

/* One row: epoch, step, loss, the reports, the validation's reports, seconds. */
static bool metrics_row(rt_metrics *m, int64_t epoch, int64_t step, double loss, const double *rep,
                        int n_rep, const double *vrep, int n_vrep, double seconds, rt_error *err) {
    csv_line l = {.n = 0};
    csv_add(&l, "%" PRId64 ",%" PRId64 ",%.6g", epoch, step, loss);
    for (int k = 0; k < n_rep; k++) csv_add(&l, ",%.6g", rep[k]);
    for (int k = 0; k < n_vrep; k++) csv_add(&l, ",%.6g", vrep[k]);
    csv_add(&l, ",%.3f", seconds);
    return rt_metrics_row(m, l.text, err);
}

static void progress(run *r, const rt_stage *s, int64_t epoch, int64_t epochs, int64_t step,
                     int64_t total, double loss, double t0) {
    double el = now_s() - t0, rate = el > 0 ? (double)step / el : 0;
    double left = rate > 0 && total > step ? (double)(total - step) / rate : 0;
    fprintf(r->out, "\r%s  epoch %" PRId64 "/%" PRId64 "  step %" PRId64 "/%" PRId64
                    "  loss %.4f  %.0f steps/s  %d:%02d left\x1b[K",
            s->name, epoch + 1, epochs, step, total, loss, rate, (int)(left / 60), (int)fmod(left, 60));
    fflush(r->out);
}

static const char *first_nonfinite_param(const stage_run *sr) {
    for (int i = 0; i < sr->s->n_params; i++) {
        if (!sr->opt_state[i]) continue;
        const param *p = sr->stored[i];
        for (int64_t k = 0; k < p->numel; k++)
            if (!isfinite(p->data[k])) return p->name;
    }
    return NULL;
}

/* ------------------------------------------------------------ non-finite values */

/* The trained parameters and their optimizer state at one moment. Taken at each
 * epoch's start (one copy per epoch, nothing per step), so that when training
 * blows up the epoch can be replayed to the step that first produced a
 * non-finite value: a step is deterministic at a fixed thread count. */
typedef struct snapshot {
    float **p, **s;
} snapshot;

static void snap_free(snapshot *sn, const stage_run *sr) {
    for (int i = 0; sn->p && i < sr->s->n_params; i++) {
        free(sn->p[i]);
        free(sn->s[i]);
    }
    free(sn->p);
    free(sn->s);
    memset(sn, 0, sizeof *sn);
}

static bool snap_alloc(snapshot *sn, const stage_run *sr) {
    int np = sr->s->n_params, copies = opt_copies(&sr->s->opt);
    sn->p = calloc((size_t)np + 1, sizeof *sn->p);
    sn->s = calloc((size_t)np + 1, sizeof *sn->s);
    if (!sn->p || !sn->s) return false;
    for (int i = 0; i < np; i++) {
        if (!sr->opt_state[i]) continue;
        size_t n = (size_t)sr->stored[i]->numel + 1;
        sn->p[i] = malloc(n * sizeof(float));
        sn->s[i] = malloc(n * (size_t)copies * sizeof(float));
        if (!sn->p[i] || !sn->s[i]) return false;
    }
    return true;
}

/* to_snap: copy the stage's trained parameters into sn; else back from it. */
static void snap_copy(snapshot *sn, const stage_run *sr, bool to_snap) {
    int copies = opt_copies(&sr->s->opt);
    for (int i = 0; i < sr->s->n_params; i++) {
        if (!sr->opt_state[i] || (!to_snap && !writes_params())) continue;
        size_t n = (size_t)sr->stored[i]->numel;
        float *p = sr->stored[i]->data, *st = sr->opt_state[i];
        memcpy(to_snap ? sn->p[i] : p, to_snap ? p : sn->p[i], n * sizeof(float));
        memcpy(to_snap ? sn->s[i] : st, to_snap ? st : sn->s[i], n * (size_t)copies * sizeof(float));
    }
    if (!to_snap) rt_mpi_update_fence();
}

/* Replays epoch e from `start` (taken before its batch first_b; batch b is global
 * step step0 + b) until a step's loss or a trained parameter after it is not
 * finite. Then the parameters that step started from are put back and its batch
 * is left in sr->ctx, so explain_nonfinite sees the failing step itself, forward
 * and backward, rather than the parameters it spoiled; *spoiled names the first
 * parameter that step made non-finite, if any. Returns that batch, or -1 when the
 * replay does not fail (or memory runs out): then sr->ctx is the last step as it ran. */
static int64_t replay_epoch(stage_run *sr, snapshot *start, int64_t e, int64_t step0,
                            int64_t total, int64_t first_b, int64_t last_b, const char **spoiled) {
    const rt_stage *s = sr->s;
    snapshot before = {0};
    int64_t found = -1;
    if (snap_alloc(&before, sr)) {
        snap_copy(start, sr, false);
        rt_dataset_begin_epoch(sr->ds, sr->seed, e, true, sr->limit);
        for (int64_t b = first_b; b <= last_b && found < 0; b++) {
            snap_copy(&before, sr, true);
            sr->ctx.step = step0 + b;
            sr->ctx.lr = rt_schedule_lr(s->opt.schedule, s->opt.lr, sr->ctx.step, total,
                                        s->opt.warmup, s->opt.to);
            run_batch(sr, b);
            *spoiled = first_nonfinite_param(sr);
            if (!isfinite(sr->loss) || *spoiled) {
                found = b;
                snap_copy(&before, sr, false);
            }
        }
    }
    snap_free(&before, sr);
    return found;
}

static bool run_train(run *r, const rt_stage *s, rt_error *err) {
    const rt_stage *val = NULL;
    if (s->validate >= 0) {
        if (s->validate >= r->prog->n_stages || r->prog->stages[s->validate].train) {
            rt_fail(err, "stage %s: validate must name an eval stage", s->name);
            return false;
        }
        val = &r->prog->stages[s->validate];
    }
    stage_run sr = {0};
    rt_metrics *metrics = NULL;
    double *rsum = calloc((size_t)s->n_reports + 1, sizeof *rsum);
    double *vrep = calloc((size_t)(val ? val->n_reports : 0) + 1, sizeof *vrep);
    bool ok = rsum && vrep && stage_prepare(r, s, false, &sr, err);
    if (!rsum || !vrep) rt_fail(err, "stage %s: out of memory", s->name);
    /* `steps` runs that many steps across as many epochs as it takes; `epochs` runs
     * whole epochs. The schedule's total is exact for steps and for fixed-size data;
     * skipgram epochs vary a little around epoch 0's size. */
    int64_t max_steps = r->opt->steps > 0 ? r->opt->steps : r->opt->epochs > 0 ? 0 : s->steps;
    int64_t epochs = max_steps > 0 ? INT64_MAX : r->opt->epochs > 0 ? r->opt->epochs : s->epochs;
    int64_t per_epoch = 0;
    if (ok) {
        rt_dataset_begin_epoch(sr.ds, sr.seed, 0, true, stage_limit(r, s));
        per_epoch = rt_dataset_batches(sr.ds, s->batch);
        /* PyTorch's choice: a batch too small for the batch statistics is an error, not dropped */
        int64_t last = rt_dataset_epoch_size(sr.ds) % s->batch;
        if (last > 0 && last < s->min_rows) {
            rt_fail(err, "stage %s: the last batch of an epoch holds %lld example%s (%lld examples, batch %lld), "
                    "but batch_norm needs at least %lld per batch in a train stage: change `batch` or `limit`",
                    s->name, (long long)last, last == 1 ? "" : "s", (long long)rt_dataset_epoch_size(sr.ds),
                    (long long)s->batch, (long long)s->min_rows);
            ok = false;
        }
        ok = ok && last_batch_shares(r, &sr, err);
    }
    if (ok && (per_epoch == 0 || epochs <= 0)) {
        rt_fail(err, "stage %s: nothing to train (%s)", s->name,
                per_epoch == 0 ? "the dataset is empty" : "neither epochs nor steps is positive");
        ok = false;
    }
    /* The schedule computes with the step number in a double: keep it exact. */
    if (ok && max_steps <= 0 && epochs > (int64_t)RT_MAX_COUNT / per_epoch) {
        rt_fail(err, "stage %s: %" PRId64 " epochs of %" PRId64 " steps each are more than 2^53 steps", s->name,
                epochs, per_epoch);
        ok = false;
    }
    char settings[320];
    run_settings(&sr, epochs, max_steps, per_epoch, settings, sizeof settings);
    train_pos pos = {.reports = rsum};
    resume_kind resumed = ok ? resume_stage(r, &sr, settings, &pos, err) : RESUME_ERROR;
    if (resumed != RESUME_ERROR) rt_mpi_update_fence();
    if (resumed == RESUME_ERROR || resumed == RESUME_FINISHED) {
        free(rsum);
        free(vrep);
        stage_release(&sr);
        return resumed == RESUME_FINISHED;
    }
    if (ok && r->root) ok = (metrics = open_metrics(r, s, val, err)) != NULL;
    int64_t total = max_steps > 0 ? max_steps : epochs * per_epoch;
    int64_t shown_epochs = max_steps > 0 ? (max_steps + per_epoch - 1) / (per_epoch ? per_epoch : 1) : epochs;
    int64_t step = pos.step, saved_step = resumed == RESUME_CONTINUE ? step : -1, corpus_words = 0;
    bool saved_at_epoch_end = resumed == RESUME_CONTINUE && pos.batch == 0;
    double t0 = now_s(), last_draw = 0, words_done = 0, step_time = 0;
    if (ok) rt_dataset_property(sr.ds, "words", &corpus_words);
    snapshot start = {0};
    if (ok && !(ok = snap_alloc(&start, &sr))) rt_fail(err, "stage %s: out of memory", s->name);
    prefetch pf = {0};
    if (ok && !(ok = prefetch_init(&pf, &sr))) rt_fail(err, "stage %s: out of memory", s->name);
    rt_mpi_profile(true);
    for (int64_t e = pos.epoch; ok && e < epochs && (max_steps <= 0 || step < max_steps); e++) {
        rt_dataset_begin_epoch(sr.ds, sr.seed, e, true, stage_limit(r, s));
        /* skip-gram epochs vary in size: each one's last batch must split too */
        if (!(ok = last_batch_shares(r, &sr, err))) break;
        /* A resumed epoch goes on from its saved batch with its sums so far. */
        bool resumed_here = e == pos.epoch;
        int64_t nb = rt_dataset_batches(sr.ds, s->batch), first_b = resumed_here ? pos.batch : 0;
        int64_t rows_total = resumed_here ? pos.rows : 0, step0 = step - first_b, last_b = first_b - 1;
        double lsum = resumed_here ? pos.loss : 0, te = now_s();
        if (!resumed_here)
            for (int k = 0; k < s->n_reports; k++) rsum[k] = 0;
        snap_copy(&start, &sr, true);
        bool loss_bad = false;
        const char *bad = NULL;
        for (int64_t b = first_b; b < nb && (max_steps <= 0 || step < max_steps); b++) {
            sr.ctx.step = step;
            sr.ctx.lr = rt_schedule_lr(s->opt.schedule, s->opt.lr, step, total, s->opt.warmup, s->opt.to);
            double ts = now_s();
            bool more = b + 1 < nb && (max_steps <= 0 || step + 1 < max_steps);
            int64_t rows = run_batch_prefetching(&sr, &pf, b, more ? b + 1 : -1);
            step_time += now_s() - ts;
            last_b = b;
            if (!isfinite(sr.loss)) {
                loss_bad = true;
                break;
            }
            if (r->opt->step_log && r->root) fprintf(r->opt->step_log, "%s %" PRId64 " %.9g\n", s->name, step, sr.loss);
            step++;
            rows_total += rows;
            lsum += (double)sr.loss * (double)rows;
            for (int k = 0; k < s->n_reports; k++) rsum[k] += (double)sr.reports[k] * (double)rows;
            if (r->tty && !r->opt->quiet && now_s() - last_draw > 0.1) {
                last_draw = now_s();
                progress(r, s, e, shown_epochs, step, total, lsum / (double)rows_total, t0);
            }
            /* save_every: a save inside the epoch (its end saves anyway). The file
             * must never hold a spoiled parameter, so they are checked first. */
            bool last = b + 1 == nb || (max_steps > 0 && step >= max_steps);
            if (s->save && s->save_every > 0 && step % s->save_every == 0 && !last) {
                if ((bad = first_nonfinite_param(&sr))) break;
                train_pos at = {.epoch = e, .batch = b + 1, .step = step, .rows = rows_total,
                                .loss = lsum, .reports = rsum};
                if (!(ok = save_stage(r, &sr, &at, settings, err))) break;
                saved_step = step;
                saved_at_epoch_end = false;
            }
        }
        prefetch_drop(&pf);
        if (!ok) break;
        /* word2vec's speed unit: corpus words per second of training; an epoch that
         * takes part of the pairs (limit) counts that part of the words */
        if (corpus_words > 0 && rt_dataset_size(sr.ds) > 0)
            words_done += (double)corpus_words * (double)rows_total / (double)rt_dataset_size(sr.ds);
        /* A non-finite loss stops at once; a parameter spoiled by a non-finite
         * gradient while the loss stayed finite is found at the epoch's end, or
         * before a save inside it (a scan per step would cost as much as a step for
         * large embeddings). Either way the epoch is replayed to the first failing step. */
        if (!loss_bad && !bad) bad = first_nonfinite_param(&sr);
        if (loss_bad || bad) {
            const char *p = NULL;
            int64_t b = replay_epoch(&sr, &start, e, step0, total, first_b, last_b, &p);
            if (b < 0) b = last_b;
            bool loss_nonfinite = !isfinite(sr.loss);
            char why[512] = "", what[300], kept[300];
            if (s->explain_nonfinite) s->explain_nonfinite(s->user, &sr.ctx, why, sizeof why);
            if (loss_nonfinite)
                snprintf(what, sizeof what, "the loss is %s", isnan(sr.loss) ? "NaN" : "infinite");
            else
                snprintf(what, sizeof what, "parameter %s became non-finite", p ? p : bad);
            if (s->save && saved_step >= 0 && saved_at_epoch_end)
                snprintf(kept, sizeof kept, "%s keeps the parameters of epoch %" PRId64 " (step %" PRId64
                         ")", s->save, e, saved_step);
            else if (s->save && saved_step >= 0)
                snprintf(kept, sizeof kept, "%s keeps the parameters of step %" PRId64, s->save, saved_step);
            else
                snprintf(kept, sizeof kept, "nothing was saved");
            if (r->tty && !r->opt->quiet) fprintf(r->out, "\n");
            rt_fail(err, "stage %s: %s at step %" PRId64 " (epoch %" PRId64 ", batch %" PRId64
                    ")%s%s; training stopped, %s", s->name, what, step0 + b, e + 1, b + 1,
                    why[0] ? ": " : "", why, kept);
            ok = false;
            break;
        }
        double div = rows_total ? (double)rows_total : 1.0, loss = lsum / div;
        for (int k = 0; k < s->n_reports; k++) rsum[k] /= div;
        double vloss = 0;
        if (val) ok = run_eval(r, val, true, &vloss, vrep, err);
        if (!ok) break;
        if (s->save) {
            bool finished = max_steps > 0 ? step >= max_steps : e + 1 >= epochs;
            train_pos at = {.epoch = e + 1, .step = step, .finished = finished};
            if (!(ok = save_stage(r, &sr, &at, settings, err))) break;
            saved_step = step;
            saved_at_epoch_end = true;
        }
        double now = now_s();
        if (metrics && !(ok = metrics_row(metrics, e + 1, step, loss, rsum, s->n_reports, vrep,
                                          val ? val->n_reports : 0, now - t0, err)))
            break;
        if (!r->opt->quiet) {
            fprintf(r->out, "%s%s  epoch %" PRId64 "/%" PRId64 "  loss %.4f", r->tty ? "\r\x1b[K" : "",
                    s->name, e + 1, shown_epochs, loss);
            print_reports(r->out, s, rsum, "");
            if (val) print_reports(r->out, val, vrep, "val.");
            fprintf(r->out, "  (%.1f s)\n", now - te);
            fflush(r->out);
        }
        if (r->opt->on_epoch) r->opt->on_epoch(r->opt->on_epoch_user, s->name, e + 1, loss, rsum, s->n_reports);
    }
    /* The stage's speed, one line that bench/run.sh reads: time per step counts
     * filling the batch and the step itself, not data loading or validation. */
    int64_t ran = step - pos.step;
    if (ok && ran > 0) {
        fprintf(r->out, "%s: %" PRId64 " steps, %.4f ms/step", s->name, ran, 1e3 * step_time / (double)ran);
        if (corpus_words > 0 && step_time > 0) fprintf(r->out, ", %.0f words/s", words_done / step_time);
        uint64_t bytes = 0;
        double coll = rt_mpi_seconds(&bytes);
        if (r->procs > 1)
            fprintf(r->out, ", %d processes, %.4f ms/step in collectives (%.0f bytes/step; all-reduces through %s%s)",
                    r->procs, 1e3 * coll / (double)ran, (double)bytes / (double)ran,
                    rt_mpi_shared_memory() ? "shared memory" : "MPI",
                    rt_mpi_sliced_updates() ? "; each updates its slice of the parameters" : "");
        fprintf(r->out, "\n");
    }
    ok = rt_metrics_close(metrics, err) && ok;
    snap_free(&start, &sr);
    prefetch_free(&pf, s->n_inputs);
    free(rsum);
    free(vrep);
    stage_release(&sr);
    return ok && stage_end(r, s, err);
}

static bool run_eval_stage(run *r, const rt_stage *s, rt_error *err) {
    double loss = 0, *rep = calloc((size_t)s->n_reports + 1, sizeof *rep);
    if (!rep) {
        rt_fail(err, "stage %s: out of memory", s->name);
        return false;
    }
    double t0 = now_s();
    bool ok = run_eval(r, s, false, &loss, rep, err);
    rt_metrics *metrics = ok && r->root ? open_metrics(r, s, NULL, err) : NULL;
    if (r->root) ok = metrics && metrics_row(metrics, 1, 0, loss, rep, s->n_reports, NULL, 0, now_s() - t0, err);
    ok = rt_metrics_close(metrics, err) && ok;
    if (ok && !r->opt->quiet) {
        fprintf(r->out, "%s", s->name);
        print_reports(r->out, s, rep, "");
        fprintf(r->out, "  (%.1f s)\n", now_s() - t0);
    }
    if (ok && r->opt->on_epoch) r->opt->on_epoch(r->opt->on_epoch_user, s->name, 1, loss, rep, s->n_reports);
    free(rep);
    return ok && stage_end(r, s, err);
}

/* Whether stage i runs, itself or as the validation of a stage that runs. */
static bool stage_runs(const rt_program *prog, const rt_run_options *o, int i) {
    for (int k = 0; k < prog->n_stages; k++) {
        const rt_stage *s = &prog->stages[k];
        if (o->stage && strcmp(s->name, o->stage) != 0) continue;
        if (k == i || (s->train && s->validate == i)) return true;
    }
    return false;
}

/* The data-bound dims of every dataset a running stage uses, checked before the
 * first step: a trainer compiled for another vocabulary would index out of range. */
static bool check_dims(run *r, rt_error *err) {
    const rt_program *prog = r->prog;
    for (int c = 0; c < r->opt->n_dim_checks; c++) {
        const rt_dim_check *dc = &r->opt->dim_checks[c];
        if (dc->dataset < 0 || dc->dataset >= prog->n_datasets) continue;
        bool used = false;
        for (int i = 0; i < prog->n_stages; i++)
            used = used || (prog->stages[i].dataset == dc->dataset && stage_runs(prog, r->opt, i));
        if (!used) continue;
        rt_dataset *ds = dataset_of(r, dc->dataset, err);
        if (!ds) return false;
        const char *name = prog->datasets[dc->dataset].name;
        int64_t v = 0;
        if (!rt_dataset_property(ds, dc->property, &v)) {
            rt_fail(err, "dataset %s has no property %s", name, dc->property);
            return false;
        }
        if (v != dc->value) {
            const char *src = prog->name ? prog->name : "FILE.rl";
            rt_fail(err, "dataset %s: its %s is %" PRId64 " in this data, but the steps were compiled "
                    "for %" PRId64 " (the data differs from the data %s was built with); rebuild "
                    "the trainer against this data: rlc build %s", name, dc->property, v, dc->value,
                    src, src);
            return false;
        }
    }
    return true;
}

/* The data of every stage that runs, checked against what its i32 inputs index
 * (classes, table rows) before the first step: a label past the classes or an id
 * past a table would otherwise train silently on zeros. */
static bool check_indices(run *r, rt_error *err) {
    const rt_program *prog = r->prog;
    for (int i = 0; i < prog->n_stages; i++) {
        const rt_stage *s = &prog->stages[i];
        if (!s->input_limits || !stage_runs(prog, r->opt, i)) continue;
        for (int k = 0; k < s->n_inputs; k++) {
            if (s->input_limits[k].limit <= 0) continue;
            rt_dataset *ds = dataset_of(r, s->dataset, err);
            if (!ds) return false;
            int f = rt_dataset_field_index(ds, s->inputs[k]);
            if (f >= 0 && !rt_dataset_check_index(ds, f, s->input_limits[k].limit, s->input_limits[k].use, err))
                return false;
        }
    }
    return true;
}

bool rt_run_program(const rt_program *prog, const rt_run_options *options, rt_error *err) {
    rt_run_options none = {0};
    const rt_run_options *o = options ? options : &none;
    run r = {.prog = prog, .opt = o, .out = o->out ? o->out : stdout,
             .runs_dir = o->runs_dir ? o->runs_dir : "runs", .procs = rt_mpi_size(), .rank = rt_mpi_rank()};
    r.root = r.rank == 0;
    int built_for = prog->procs > 1 ? prog->procs : 1;
    if (built_for != r.procs) {
        rt_fail(err, "%s was compiled for %d process%s but runs in %d (rlc run compiles for the mpirun it runs "
                "in; rlc build --procs %d makes a trainer for %d)", prog->name ? prog->name : "the program",
                built_for, built_for == 1 ? "" : "es", r.procs, r.procs, r.procs);
        err->everywhere = true;
        return false;
    }
    for (int i = 0; i < prog->n_stages; i++) {
        const rt_stage *s = &prog->stages[i];
        if (stage_runs(prog, o, i) && s->batch > 0 && s->batch % r.procs != 0) {
            rt_fail(err, "stage %s: batch %" PRId64 " is not a multiple of the %d processes (mpirun -np %d): "
                    "each process computes an equal share of every batch", s->name, s->batch, r.procs, r.procs);
            err->everywhere = true;
            return false;
        }
    }
    /* the other processes print nowhere */
    FILE *devnull = NULL;
    if (!r.root && !(r.out = devnull = fopen("/dev/null", "w"))) {
        rt_fail(err, "process %d: cannot open /dev/null", r.rank);
        return false;
    }
    r.tty = isatty(fileno(r.out));
    bool found = !o->stage;
    for (int i = 0; i < prog->n_stages; i++) found = found || strcmp(prog->stages[i].name, o->stage) == 0;
    if (!found) {
        rt_fail(err, "no stage named %s", o->stage);
        return false;
    }
    r.data = calloc((size_t)prog->n_datasets + 1, sizeof *r.data);
    r.pool = rt_pool_create(o->threads > 0 ? o->threads : 1);
    bool ok = r.data && r.pool;
    if (!ok) rt_fail(err, "out of memory");
    /* oneDNN's opening and kernel generation (rt_gemm_prepare) overlap the data loading */
    for (int i = 0; ok && i < prog->n_stages; i++)
        if (stage_runs(prog, o, i) && prog->stages[i].products) rt_gemm_prepare();
    ok = ok && check_dims(&r, err) && check_indices(&r, err);
    for (int i = 0; ok && i < prog->n_stages; i++) {
        const rt_stage *s = &prog->stages[i];
        if (o->stage && strcmp(s->name, o->stage) != 0) continue;
        ok = s->train ? run_train(&r, s, err) : run_eval_stage(&r, s, err);
    }
    for (int i = 0; r.data && i < prog->n_datasets; i++) rt_dataset_free(r.data[i]);
    free(r.data);
    rt_gemm_prepare_finish();
    rt_pool_destroy(r.pool);
    store_free(&r.st);
    if (devnull) fclose(devnull);
    return ok;
}
