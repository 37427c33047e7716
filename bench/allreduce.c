/* allreduce.c — the cost of rlc's gradient all-reduce (rt_collective, runtime/mpi.c) per size,
 * for bench/mpi_scaling.py, next to Open MPI's own collectives on the same buffers: what an
 * all-reduce of that many bytes costs on this machine, and which part of it is rlc's. Run under
 * mpirun; process 0 prints a `#` header, then a line per size: the bytes and, in seconds, the
 * median of `reps` calls after a warm-up of rt_collective's all-reduce on buffers of its own
 * (through MPI), MPI_Allreduce, MPI_Reduce_scatter_block (the same bytes in, a slice out),
 * MPI_Allgather (a slice in, the same bytes out), MPI_Alltoall (the same bytes in and out) and
 * rt_collective's all-reduce on buffers in a step workspace (rt_mpi_workspace_alloc: through the
 * shared-memory window when every process is on one node, as the steps' gradients go).
 * usage: mpirun -np N allreduce [reps] */
#define _POSIX_C_SOURCE 200809L
#include "rlrt.h"

#include <mpi.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { RLC, ALLREDUCE, REDUCE_SCATTER, ALLGATHER, ALLTOALL, RLC_WORKSPACE, WAYS };

/* The buffers of RLC_WORKSPACE: in and out in one workspace, as a step's. */
static float *ws_in, *ws_out;

static void run_once(int way, float *out, float *in, int n, int procs) {
    int slice = n / procs;
    switch (way) {
    case RLC: rt_collective(RT_COLL_ALLREDUCE, procs, out, in, 1, 1, 1, n); break;
    case RLC_WORKSPACE: rt_collective(RT_COLL_ALLREDUCE, procs, ws_out, ws_in, 1, 1, 1, n); break;
    case ALLREDUCE: MPI_Allreduce(in, out, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); break;
    case REDUCE_SCATTER: MPI_Reduce_scatter_block(in, out, slice, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); break;
    case ALLGATHER: MPI_Allgather(in, slice, MPI_FLOAT, out, slice, MPI_FLOAT, MPI_COMM_WORLD); break;
    case ALLTOALL: MPI_Alltoall(in, slice, MPI_FLOAT, out, slice, MPI_FLOAT, MPI_COMM_WORLD); break;
    default: break;
    }
}

/* The median seconds of reps calls, each started together on every process. */
static double median(int way, float *out, float *in, int n, int procs, int reps, double *times) {
    run_once(way, out, in, n, procs);
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now_s();
        run_once(way, out, in, n, procs);
        times[r] = now_s() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, by_value);
    return times[reps / 2];
}

int main(int argc, char **argv) {
    rt_error err = {0};
    if (!rt_mpi_start(&argc, &argv, &err)) {
        fprintf(stderr, "allreduce: %s\n", err.msg);
        return 1;
    }
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    if (reps < 1 || reps > 1000) reps = 20;
    int procs = rt_mpi_size();
    double *times = malloc(sizeof(double) * (size_t)reps);
    if (rt_mpi_rank() == 0)
        printf("# bytes rlc MPI_Allreduce MPI_Reduce_scatter_block MPI_Allgather MPI_Alltoall rlc_workspace "
               "(s, median of %d; rlc_workspace through %s)\n",
               reps, rt_mpi_shared_memory() ? "shared memory" : "MPI");
    for (int n = 1024; n <= 1 << 22; n *= 4) {
        float *in = malloc((size_t)n * 4), *out = malloc((size_t)n * 4);
        float *ws = rt_mpi_workspace_alloc((size_t)n * 8);
        if (!in || !out || !ws || !times) return 1;
        ws_in = ws;
        ws_out = ws + n;
        for (int i = 0; i < n; i++) ws_in[i] = in[i] = (float)(i % 7);
        double t[WAYS];
        for (int way = 0; way < WAYS; way++) t[way] = median(way, out, in, n, procs, reps, times);
        if (rt_mpi_rank() == 0) {
            printf("%lld", (long long)n * 4);
            for (int way = 0; way < WAYS; way++) printf(" %.9f", t[way]);
            printf("\n");
        }
        free(in);
        free(out);
        rt_mpi_workspace_free(ws);
    }
    free(times);
    rt_mpi_finish();
    return 0;
}
