/* phases.c — the RLC_TIME_PHASES lines (phases.h). */
#include "phases.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool enabled;

static void read_setting(void) {
    const char *v = getenv("RLC_TIME_PHASES");
    enabled = v && *v && strcmp(v, "0") != 0;
}

bool phases_enabled(void) {
    /* once: the JIT's compile workers time their modules concurrently */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_setting);
    return enabled;
}

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

PhaseClock phase_start(void) {
    if (!phases_enabled()) return (PhaseClock){0};
    return (PhaseClock){seconds(CLOCK_MONOTONIC), seconds(CLOCK_THREAD_CPUTIME_ID)};
}

void phase_end(PhaseClock start, const char *fmt, ...) {
    if (!phases_enabled()) return;
    double wall = seconds(CLOCK_MONOTONIC) - start.wall;
    double cpu = seconds(CLOCK_THREAD_CPUTIME_ID) - start.cpu;
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    /* one call per line: lines of concurrent workers do not interleave */
    fprintf(stderr, "phase: %-36s %8.1f ms wall %8.1f ms CPU\n", name, 1e3 * wall, 1e3 * cpu);
}
