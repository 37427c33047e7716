/* phases.h — where a compile's time goes, phase by phase: with RLC_TIME_PHASES=1
 * in the environment, each timed phase prints one line on stderr
 * (`phase: NAME  W ms wall  C ms CPU`, CPU of the calling thread), so a slow
 * compile can be taken apart without a profiler (docs/performance.md). */
#ifndef RLC_PHASES_H
#define RLC_PHASES_H

#include <stdbool.h>

typedef struct PhaseClock {
    double wall, cpu; /* seconds: monotonic clock, this thread's CPU clock */
} PhaseClock;

/* Whether RLC_TIME_PHASES asks for the lines (read once). */
bool phases_enabled(void);
PhaseClock phase_start(void);
/* Prints the time since start under the name fmt formats, when enabled. */
void phase_end(PhaseClock start, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
