/* fileio.h — how the runtime writes files it must not damage: whole-file
 * replacement (parameter files, vocabularies) and the per-stage metrics log.
 * Not part of the ABI.
 *
 * Prefix: rt_.
 */
#ifndef RT_FILEIO_H
#define RT_FILEIO_H

#include "rlrt.h"

/* A file being replaced atomically. rt_replace_begin resolves symbolic links (the
 * link stays, its target is replaced), removes temporary files that killed saves
 * of the same target left behind, and opens a new temporary file `TARGET.tmpXXXXXX`
 * in the target's folder (locked while it is written, so no other save takes it
 * for stale). Write to `f`, then rt_replace_commit: flush, give the file the
 * target's mode (or 0666 less the umask for a new file), fsync, rename over the
 * target, fsync the folder. Either call removes the temporary file on failure;
 * rt_replace_abort drops one that is no longer wanted; a failed rt_replace_begin leaves
 * `r` empty, so aborting it as well is harmless. Errors name `path` and
 * say what failed (a full disk, a folder that cannot be written). */
typedef struct rt_replace {
    FILE *f;
    char *target;       /* the file renamed over: path with its symbolic links followed */
    char *tmp;
    const char *path;   /* as the caller gave it, for messages */
    const char *what;   /* "parameter file": messages say `PATH: cannot write the WHAT: why` */
} rt_replace;

bool rt_replace_begin(rt_replace *r, const char *path, const char *what, rt_error *err);
bool rt_replace_commit(rt_replace *r, rt_error *err);
void rt_replace_abort(rt_replace *r);

/* A stage's metrics log, RUNS/STAGE/metrics.csv: appended to by every run, never
 * truncated. The first column is `run`, 1 for the file's first run and one more
 * for each later run, so a CSV reader keeps runs apart by filtering on it. The
 * header is written when the file is new; when a run's columns differ from the
 * file's header, the old file is kept as metrics.N.csv (the first free N) and a
 * new one started. A last line cut short by a crash is dropped before appending.
 * Every write is checked: a failure (a full disk) is an error naming the file. */
typedef struct rt_metrics rt_metrics;

/* columns: the header after `run`, comma-separated ("epoch,step,loss,time"). */
rt_metrics *rt_metrics_open(const char *path, const char *columns, rt_error *err);
/* row: the values after `run`, comma-separated, no newline. */
bool rt_metrics_row(rt_metrics *m, const char *row, rt_error *err);
/* Closes; false (with err set) when the last writes failed. NULL is a no-op. */
bool rt_metrics_close(rt_metrics *m, rt_error *err);

#endif
