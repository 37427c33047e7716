/* mpi.c — many processes (docs/mpi.md): MPI started only when the program was
 * launched by mpirun, the process count and rank, and the collectives the
 * sharded step graph calls (IR_ALLREDUCE, IR_ALLGATHER, IR_REDUCE_SCATTER,
 * IR_SHARD, IR_UNSHARD).
 *
 * Every collective gives each process bit-identical results: a sum over the
 * processes is computed for each element on one process only (reduce-scatter,
 * then all-gather), or in rank order on every process from gathered partials,
 * never in an order that could differ between processes, so parameters that
 * start equal stay equal. All-reduces always add in rank order, so their bits
 * do not depend on the count either (how gradients are split into buckets).
 * When every process shares one node, an all-reduce of buffers in a step's
 * workspace goes through a shared-memory window instead (shm_allreduce.c), with
 * the same adds in the same order, and the parameters and optimizer state are one
 * copy there too, each process updating its slice of them (sliced updates). */
#define _POSIX_C_SOURCE 200809L
#include "rlrt.h"
#include "shm_allreduce.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int world_size = 1, world_rank = 0;
static bool started, sliced;
static double collective_seconds;
static uint64_t collective_bytes;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE, PMIx launchers PMIX_RANK, MPICH's PMI_SIZE. */
static bool launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

bool rt_mpi_start(int *argc, char ***argv, rt_error *err) {
    if (started || !launched_by_mpirun()) return true;
    /* Open MPI's shared-memory transport copies messages through shared buffers
     * unless told otherwise; its default single copy (CMA, process_vm_readv) made
     * all-reduces of 1-4 MB 2-40x slower on the (containerised) machine of
     * docs/mpi.md. A setting the user gave (mpirun --mca ..., the variable) wins. */
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        rt_fail(err, "MPI_Init failed: this process was started by mpirun but cannot join its job");
        return false;
    }
    started = true;
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    shm_start(MPI_COMM_WORLD);
    /* Sliced updates where the window is, when RLC_MPI_SLICED=1 asks (docs/mpi.md: at
     * 2 processes on one node they were slower); every process must agree, as they
     * allocate the parameters together */
    const char *env = getenv("RLC_MPI_SLICED");
    int want = shm_enabled() && env && strcmp(env, "1") == 0, all = 0;
    MPI_Allreduce(&want, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    sliced = all == 1;
    return true;
}

static void free_inflights(void);

void rt_mpi_finish(void) {
    free_inflights();
    if (started) {
        shm_finish();
        MPI_Finalize();
    }
    started = false;
    sliced = false;
    world_size = 1;
    world_rank = 0;
}

void rt_mpi_abort(int status) {
    if (started && world_size > 1) MPI_Abort(MPI_COMM_WORLD, status);
}

int rt_mpi_size(void) { return world_size; }
int rt_mpi_rank(void) { return world_rank; }

bool rt_mpi_all_ok(bool ok) {
    if (!started || world_size == 1) return ok;
    int mine = ok ? 1 : 0, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all == 1;
}

void rt_mpi_report(FILE *to, const char *who, const rt_error *err) {
    if (world_size == 1 || world_rank == 0) fprintf(to, "%s: error: %s\n", who, err->msg);
    else if (!err->everywhere) fprintf(to, "%s: error: process %d of %d: %s\n", who, world_rank, world_size, err->msg);
    fflush(to);
    if (!err->everywhere) rt_mpi_abort(1);
}

void rt_mpi_profile(bool on) {
    (void)on;
    collective_seconds = 0;
    collective_bytes = 0;
}

double rt_mpi_seconds(uint64_t *bytes) {
    if (bytes) *bytes = collective_bytes;
    return collective_seconds;
}

/* A tensor viewed as [outer, blocks * rows, inner] (4-byte elements): locally
 * each of the `blocks` blocks along the sharded axis holds this process's
 * `rows` rows; in the global tensor block j holds every process's rows of it
 * in rank order, so local row (j, i) of process r is global row (j*N + r)*rows + i. */
typedef struct view {
    int64_t outer, blocks, rows, inner;
    size_t elem;           /* bytes per element: 4 (f32, i32) or 8 (the interpreter's doubles) */
} view;

static size_t row_bytes(const view *v) { return (size_t)v->inner * v->elem; }

/* Copies the local rows of process r between a local tensor and the global one;
 * to_global: local -> global, else global -> local. */
static void move_rows(const view *v, int64_t procs, int64_t r, char *local, char *global, bool to_global) {
    size_t rb = row_bytes(v), chunk = rb * (size_t)v->rows;
    for (int64_t o = 0; o < v->outer; o++)
        for (int64_t j = 0; j < v->blocks; j++) {
            char *l = local + ((size_t)(o * v->blocks + j) * (size_t)v->rows) * rb;
            char *g = global + ((size_t)(o * v->blocks * procs + j * procs + r) * (size_t)v->rows) * rb;
            if (to_global) memcpy(g, l, chunk);
            else memcpy(l, g, chunk);
        }
}

static void *scratch(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "rlc: out of memory for a collective of %zu bytes on process %d\n", bytes, world_rank);
        rt_mpi_abort(1);
        exit(1);
    }
    return p;
}

/* An all-reduce in flight (rt_allreduce_start .. rt_allreduce_wait), found by
 * its output buffer. Every element's sum is formed in rank order, p0 + p1 + ...,
 * so every process gets the same bits whatever the count or the split into
 * buckets. Few values: every process gathers every partial and adds them
 * itself (one exchange). Many: process r owns the slice [r n/N, (r+1) n/N),
 * receives every other process's part of it (all-to-all; its own part it reads
 * where it is, not copied), adds them, and all gather the sums (two exchanges,
 * 2 (N-1)/N n values sent a process, as a ring all-reduce). The entries and their receive buffers are kept from step to
 * step: the same buffers all-reduce again every step. */
/* IDLE: free for the next one; SUMMED: out holds the sums, not yet waited for. */
typedef enum { IDLE, GATHERING_PARTS, GATHERING_SUMS, SUMMED } phase;

typedef struct inflight {
    void *out;
    const void *in;
    int64_t n;
    bool f64;
    phase at;
    MPI_Request req;
    MPI_Comm comm;               /* its own: see new_inflight */
    char *parts;                 /* the partials received */
    size_t parts_cap;
    int *counts, *displs;        /* per process: its slice of the n values */
    int *send_counts;            /* counts, but none to this process: its own part stays in `in` */
    int *part_counts, *part_displs; /* per process: where its part of this slice lands in parts */
} inflight;

static inflight *inflights;
static int n_inflights;

/* The all-reduce in flight into out, or NULL. */
static inflight *inflight_of(const void *out) {
    for (int i = 0; i < n_inflights; i++)
        if (inflights[i].at != IDLE && inflights[i].out == out) return &inflights[i];
    return NULL;
}

static inflight *new_inflight(void) {
    inflight *grown = realloc(inflights, sizeof *inflights * (size_t)(n_inflights + 1));
    if (!grown) {
        fprintf(stderr, "rlc: out of memory for a collective on process %d\n", world_rank);
        rt_mpi_abort(1);
        exit(1);
    }
    inflights = grown;
    inflight *f = &inflights[n_inflights++];
    *f = (inflight){.at = IDLE};
    /* MPI matches collectives in the order each process starts them on a
     * communicator, and an all-reduce starts its second exchange when its first
     * ends, which differs from process to process: each entry has a communicator
     * of its own. Every process takes the same entry for the same all-reduce (the
     * first idle one: the steps start and wait in the same order everywhere). */
    MPI_Comm_dup(MPI_COMM_WORLD, &f->comm);
    size_t ints = sizeof(int) * (size_t)world_size;
    f->counts = scratch(ints);
    f->displs = scratch(ints);
    f->send_counts = scratch(ints);
    f->part_counts = scratch(ints);
    f->part_displs = scratch(ints);
    return f;
}

static void free_inflights(void) {
    for (int i = 0; i < n_inflights; i++) {
        MPI_Comm_free(&inflights[i].comm);
        free(inflights[i].parts);
        free(inflights[i].counts);
        free(inflights[i].displs);
        free(inflights[i].send_counts);
        free(inflights[i].part_counts);
        free(inflights[i].part_displs);
    }
    free(inflights);
    inflights = NULL;
    n_inflights = 0;
}

static bool few_values(int64_t n) { return n < 1024 * (int64_t)world_size; }

/* out[0 .. count) = parts[0][i] + parts[1][i] + ... in rank order (blocks of `stride`);
 * with `own`, this process's part is read there instead of from parts. One pass:
 * a block of every part is added in a buffer on the stack, then stored, so own
 * may be out (an all-reduce in place) and out is written once. */
static void sum_in_rank_order(void *out, const char *parts, int64_t count, int64_t stride, bool f64,
                              const void *own) {
    enum { BLOCK = 512 };
    size_t e = f64 ? 8 : 4;
    for (int64_t at = 0; at < count; at += BLOCK) {
        int64_t m = count - at < BLOCK ? count - at : BLOCK;
        double acc64[BLOCK];
        float acc32[BLOCK];
        for (int64_t r = 0; r < world_size; r++) {
            const char *part = own && r == world_rank ? own : parts + (size_t)(r * stride) * e;
            if (f64) {
                const double *p = (const double *)part + at;
                if (r == 0) memcpy(acc64, p, (size_t)m * e);
                else
                    for (int64_t i = 0; i < m; i++) acc64[i] += p[i];
            } else {
                const float *p = (const float *)part + at;
                if (r == 0) memcpy(acc32, p, (size_t)m * e);
                else
                    for (int64_t i = 0; i < m; i++) acc32[i] += p[i];
            }
        }
        memcpy((char *)out + (size_t)at * e, f64 ? (void *)acc64 : (void *)acc32, (size_t)m * e);
    }
}

static void reserve_parts(inflight *f, size_t bytes) {
    if (bytes <= f->parts_cap) return;
    free(f->parts);
    f->parts = scratch(bytes);
    f->parts_cap = bytes;
}

static void begin_allreduce(void *out, const void *in, int64_t n, bool f64) {
    if (inflight_of(out)) {
        fprintf(stderr, "rlc: an all-reduce into a buffer whose last one has not finished (process %d)\n",
                world_rank);
        rt_mpi_abort(1);
        exit(1);
    }
    /* an idle entry keeps its buffers for the next all-reduce of the same size */
    inflight *f = NULL;
    for (int i = 0; i < n_inflights && !f; i++)
        if (inflights[i].at == IDLE) f = &inflights[i];
    if (!f) f = new_inflight();
    f->out = out;
    int P = world_size;
    size_t e = f64 ? 8 : 4;
    MPI_Datatype t = f64 ? MPI_DOUBLE : MPI_FLOAT;
    f->in = in;
    f->n = n;
    f->f64 = f64;
    f->at = GATHERING_PARTS;
    if (few_values(n)) {
        reserve_parts(f, (size_t)(n * P) * e);
        MPI_Iallgather(in, (int)n, t, f->parts, (int)n, t, f->comm, &f->req);
        return;
    }
    for (int r = 0; r < P; r++) {
        f->displs[r] = (int)(n * r / P);
        f->counts[r] = (int)(n * (r + 1) / P) - f->displs[r];
    }
    int mine = f->counts[world_rank];
    for (int r = 0; r < P; r++) {
        f->send_counts[r] = r == world_rank ? 0 : f->counts[r];
        f->part_counts[r] = r == world_rank ? 0 : mine;
        f->part_displs[r] = mine * r;
    }
    reserve_parts(f, (size_t)mine * (size_t)P * e);
    MPI_Ialltoallv(in, f->send_counts, f->displs, t, f->parts, f->part_counts, f->part_displs, t, f->comm,
                   &f->req);
}

/* The next phase of f once its request has completed. */
static void advance(inflight *f) {
    size_t e = f->f64 ? 8 : 4;
    if (f->at == GATHERING_SUMS) {
        f->at = SUMMED;
        return;
    }
    if (few_values(f->n)) {
        sum_in_rank_order(f->out, f->parts, f->n, f->n, f->f64, NULL);
        f->at = SUMMED;
        return;
    }
    int mine = f->counts[world_rank];
    sum_in_rank_order((char *)f->out + (size_t)f->displs[world_rank] * e, f->parts, mine, mine, f->f64,
                      (const char *)f->in + (size_t)f->displs[world_rank] * e);
    MPI_Datatype t = f->f64 ? MPI_DOUBLE : MPI_FLOAT;
    MPI_Iallgatherv(MPI_IN_PLACE, 0, t, f->out, f->counts, f->displs, t, f->comm, &f->req);
    f->at = GATHERING_SUMS;
}

static void finish_allreduce(void *out) {
    inflight *f = inflight_of(out);
    if (!f) {
        fprintf(stderr, "rlc: a wait for an all-reduce that was not started (process %d)\n", world_rank);
        rt_mpi_abort(1);
        exit(1);
    }
    while (f->at != SUMMED) {
        MPI_Wait(&f->req, MPI_STATUS_IGNORE);
        advance(f);
    }
    f->at = IDLE;
}

/* Through the shared-memory window when in and out lie in it (shm_allreduce.c),
 * else through MPI; the same bits either way. */
static void start_allreduce(float *out, const float *in, int64_t n) {
    if (!shm_allreduce_start(out, in, n)) begin_allreduce(out, in, n, false);
}

static void wait_allreduce(float *out) {
    if (!shm_allreduce_wait(out)) finish_allreduce(out);
}

static void allreduce_sum(void *out, const void *in, int64_t n, bool f64) {
    if (f64) {
        begin_allreduce(out, in, n, true);
        finish_allreduce(out);
    } else {
        start_allreduce(out, in, n);
        wait_allreduce(out);
    }
}

static void check_procs(int64_t procs) {
    if (procs == world_size) return;
    fprintf(stderr, "rlc: the step was compiled for %lld processes but runs in %d\n", (long long)procs, world_size);
    rt_mpi_abort(1);
    exit(1);
}

static void collective(int op, int64_t procs, void *out, const void *in, int64_t outer, int64_t blocks,
                       int64_t rows, int64_t inner, bool f64) {
    check_procs(procs);
    double t0 = now_s();
    view v = {outer, blocks, rows, inner, f64 ? 8 : 4};
    int64_t local = outer * blocks * rows * inner, global = local * procs;
    size_t e = v.elem;
    MPI_Datatype t = f64 ? MPI_DOUBLE : MPI_FLOAT;
    switch (op) {
    case RT_COLL_ALLREDUCE:
        allreduce_sum(out, in, local, f64);
        collective_bytes += (uint64_t)local * e;
        break;
    case RT_COLL_ALLGATHER: {
        if (outer == 1 && blocks == 1) {
            MPI_Allgather(in, (int)local, t, out, (int)local, t, MPI_COMM_WORLD);
        } else {
            char *all = scratch((size_t)global * e);
            MPI_Allgather(in, (int)local, t, all, (int)local, t, MPI_COMM_WORLD);
            for (int64_t r = 0; r < procs; r++) move_rows(&v, procs, r, all + (size_t)(r * local) * e, out, true);
            free(all);
        }
        collective_bytes += (uint64_t)global * e;
        break;
    }
    case RT_COLL_REDUCE_SCATTER: {
        /* rank-major order, so process r's rows are the r-th contiguous part; each
         * process receives every process's part of its rows (all-to-all) and adds
         * them in rank order (Open MPI 4.1's MPI_Reduce_scatter_block took 40-120 ms
         * for 1 MB at 2 processes: docs/mpi.md) */
        char *ordered = scratch((size_t)global * e), *parts = scratch((size_t)global * e);
        for (int64_t r = 0; r < procs; r++) move_rows(&v, procs, r, ordered + (size_t)(r * local) * e, (void *)in, false);
        MPI_Alltoall(ordered, (int)local, t, parts, (int)local, t, MPI_COMM_WORLD);
        sum_in_rank_order(out, parts, local, local, f64, NULL);
        free(ordered);
        free(parts);
        collective_bytes += (uint64_t)global * e;
        break;
    }
    case RT_COLL_SHARD:
        move_rows(&v, procs, world_rank, out, (void *)in, false);
        break;
    case RT_COLL_UNSHARD:
        memset(out, 0, (size_t)global * e);
        move_rows(&v, procs, world_rank, (void *)in, out, true);
        break;
    default: break;
    }
    collective_seconds += now_s() - t0;
}

void rt_collective(int op, int64_t procs, void *out, const void *in, int64_t outer, int64_t blocks,
                   int64_t rows, int64_t inner) {
    collective(op, procs, out, in, outer, blocks, rows, inner, false);
}

void rt_allreduce_start(int64_t procs, float *out, const float *in, int64_t n) {
    check_procs(procs);
    double t0 = now_s();
    start_allreduce(out, in, n);
    collective_bytes += (uint64_t)n * 4;
    collective_seconds += now_s() - t0;
}

void rt_mpi_progress(void) {
    double t0 = now_s();
    bool any = shm_progress();
    for (int i = 0; i < n_inflights; i++) {
        inflight *f = &inflights[i];
        if (f->at == IDLE || f->at == SUMMED) continue;
        any = true;
        int done = 0;
        MPI_Test(&f->req, &done, MPI_STATUS_IGNORE);
        if (done) advance(f);
    }
    if (any) collective_seconds += now_s() - t0;
}

void rt_allreduce_wait(float *out) {
    double t0 = now_s();
    wait_allreduce(out);
    collective_seconds += now_s() - t0;
}

void rt_collective_f64(int op, int64_t procs, double *out, const double *in, int64_t outer, int64_t blocks,
                       int64_t rows, int64_t inner) {
    collective(op, procs, out, in, outer, blocks, rows, inner, true);
}

void *rt_mpi_workspace_alloc(size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;
    if (shm_enabled()) return shm_workspace_alloc(rounded);
    return rt_alloc_big(rounded, false);
}

void rt_mpi_workspace_free(void *p) {
    if (p && !shm_workspace_free(p)) free(p);
}

bool rt_mpi_shared_memory(void) { return shm_enabled(); }

/* ------------------------------------------------------------ sliced updates */

bool rt_mpi_sliced_updates(void) { return sliced; }

void *rt_mpi_param_alloc(size_t bytes) {
    if (rt_mpi_sliced_updates()) return shm_shared_alloc(bytes);
    return rt_alloc_big(bytes ? bytes : 1, true);
}

void rt_mpi_param_free(void *p) {
    if (p && !(rt_mpi_sliced_updates() && shm_shared_free(p))) free(p);
}

int64_t rt_mpi_update_bound(int64_t n, int64_t align, int32_t end) {
    if (!rt_mpi_sliced_updates()) return end ? n : 0;
    int64_t r = world_rank + (end ? 1 : 0);
    return r == world_size ? n : n * r / world_size / align * align;
}

void rt_mpi_update_fence(void) {
    if (!rt_mpi_sliced_updates()) return;
    double t0 = now_s();
    shm_fence();
    collective_seconds += now_s() - t0;
}

typedef struct slice_job {
    rt_range_fn fn;
    void *ctx;
    int64_t lo;
} slice_job;

static void slice_range(void *ctx, int64_t lo, int64_t hi) {
    const slice_job *j = ctx;
    j->fn(j->ctx, j->lo + lo, j->lo + hi);
}

void rt_parallel_slice(rt_pool *pool, int64_t lo, int64_t hi, rt_range_fn fn, void *ctx) {
    slice_job j = {fn, ctx, lo};
    if (hi > lo) rt_parallel_for(pool, hi - lo, slice_range, &j);
}
