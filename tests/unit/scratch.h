/* scratch.h — what the unit tests that run whole programs share: a scratch
 * folder that is the working directory while they run (save: files and runs/
 * are relative to it), files written into it and read back, `rlc run` in
 * process, and the last row of a stage's metrics.
 *
 * Include after <cmocka.h>: failures end the calling test with a message. */
#ifndef RLC_TEST_SCRATCH_H
#define RLC_TEST_SCRATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "driver.h"

/* For cmocka's group setup/teardown: makes /tmp/rlc-TAG-XXXXXX and enters it;
 * leaves and removes it. 0 on success. */
int scratch_enter(const char *tag);
int scratch_leave(void);
/* The folder's absolute path (a program's `save:` may want it). */
const char *scratch_dir(void);

void scratch_write(const char *path, const char *text);
/* The file's bytes, NUL-terminated (free them); *len its size. Fails the test
 * when it cannot be read. */
char *scratch_slurp(const char *path, size_t *len);
bool scratch_same_file(const char *a, const char *b);

/* `rlc run FILE` with opts (threads 1 and quiet when opts is NULL): its exit
 * status, and its stderr in msg (cap bytes; msg may be NULL). */
int scratch_run(const char *file, const RunOptions *opts, char *msg, size_t cap);
/* The same, failing the test with rlc's message unless it succeeds. */
void scratch_run_ok(const char *file, const RunOptions *opts);

/* The last row of runs/STAGE/metrics.csv (a run appends one row per report
 * line), whose header must be `header` (without its newline): the first n
 * columns as numbers in cols. */
void scratch_last_metrics(const char *stage, const char *header, double *cols, int n);

#endif
