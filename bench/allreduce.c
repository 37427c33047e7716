/* allreduce.c — the cost of rlc's gradient all-reduce (rt_collective, runtime/mpi.c) per size,
 * for bench/mpi_scaling.py. Run under mpirun; process 0 prints `BYTES SECONDS` per size, the
 * median of `reps` calls after a warm-up.
 * usage: mpirun -np N allreduce [reps] */
#define _POSIX_C_SOURCE 200809L
#include "rlrt.h"

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
    for (int64_t n = 1024; n <= (int64_t)1 << 22; n *= 4) {
        float *in = malloc((size_t)n * 4), *out = malloc((size_t)n * 4);
        if (!in || !out || !times) return 1;
        for (int64_t i = 0; i < n; i++) in[i] = (float)(i % 7);
        rt_collective(RT_COLL_ALLREDUCE, procs, out, in, 1, 1, 1, n);
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            rt_collective(RT_COLL_ALLREDUCE, procs, out, in, 1, 1, 1, n);
            times[r] = now_s() - t0;
        }
        qsort(times, (size_t)reps, sizeof *times, by_value);
        if (rt_mpi_rank() == 0) printf("%lld %.9f\n", (long long)n * 4, times[reps / 2]);
        free(in);
        free(out);
    }
    free(times);
    rt_mpi_finish();
    return 0;
}
