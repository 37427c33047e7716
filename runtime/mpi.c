/* mpi.c — many processes (docs/mpi.md): MPI started only when the program was
 * launched by mpirun, the process count and rank, and the collectives the
 * sharded step graph calls (IR_ALLREDUCE, IR_ALLGATHER, IR_REDUCE_SCATTER,
 * IR_SHARD, IR_UNSHARD).
 *
 * Every collective gives each process bit-identical results: a sum over the
 * processes is computed for each element on one process only (reduce-scatter,
 * then all-gather), or in rank order on every process from gathered partials,
 * never in an order that could differ between processes, so parameters that
 * start equal stay equal. */
#define _POSIX_C_SOURCE 200809L
#include "rlrt.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int world_size = 1, world_rank = 0;
static bool started;
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
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        rt_fail(err, "MPI_Init failed: this process was started by mpirun but cannot join its job");
        return false;
    }
    started = true;
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    return true;
}

void rt_mpi_finish(void) {
    if (started) MPI_Finalize();
    started = false;
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

/* Sums n values over the processes into out on every process, bit-identical
 * everywhere. Small counts: gather every partial and add them in rank order;
 * large ones: each process sums one slice (reduce-scatter), then all gather. */
static void allreduce_sum(void *out, const void *in, int64_t n, bool f64) {
    int64_t P = world_size;
    size_t e = f64 ? 8 : 4;
    MPI_Datatype t = f64 ? MPI_DOUBLE : MPI_FLOAT;
    if (n < 1024 * P) {
        char *all = scratch((size_t)(n * P) * e);
        MPI_Allgather(in, (int)n, t, all, (int)n, t, MPI_COMM_WORLD);
        for (int64_t i = 0; i < n; i++) {
            if (f64) {
                double s = ((double *)all)[i];
                for (int64_t r = 1; r < P; r++) s += ((double *)all)[r * n + i];
                ((double *)out)[i] = s;
            } else {
                float s = ((float *)all)[i];
                for (int64_t r = 1; r < P; r++) s += ((float *)all)[r * n + i];
                ((float *)out)[i] = s;
            }
        }
        free(all);
        return;
    }
    int64_t slice = (n + P - 1) / P;
    char *padded = scratch((size_t)(slice * P) * e), *mine = scratch((size_t)slice * e);
    memcpy(padded, in, (size_t)n * e);
    memset(padded + (size_t)n * e, 0, (size_t)(slice * P - n) * e);
    MPI_Reduce_scatter_block(padded, mine, (int)slice, t, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allgather(mine, (int)slice, t, padded, (int)slice, t, MPI_COMM_WORLD);
    memcpy(out, padded, (size_t)n * e);
    free(padded);
    free(mine);
}

static void collective(int op, int64_t procs, void *out, const void *in, int64_t outer, int64_t blocks,
                       int64_t rows, int64_t inner, bool f64) {
    if (procs != world_size) {
        fprintf(stderr, "rlc: the step was compiled for %lld processes but runs in %d\n", (long long)procs,
                world_size);
        rt_mpi_abort(1);
        exit(1);
    }
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
        /* rank-major order, so process r's rows are the r-th contiguous part */
        char *ordered = scratch((size_t)global * e);
        for (int64_t r = 0; r < procs; r++) move_rows(&v, procs, r, ordered + (size_t)(r * local) * e, (void *)in, false);
        MPI_Reduce_scatter_block(ordered, out, (int)local, t, MPI_SUM, MPI_COMM_WORLD);
        free(ordered);
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

void rt_collective_f64(int op, int64_t procs, double *out, const double *in, int64_t outer, int64_t blocks,
                       int64_t rows, int64_t inner) {
    collective(op, procs, out, in, outer, blocks, rows, inner, true);
}
