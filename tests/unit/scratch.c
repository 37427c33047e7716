/* scratch.c — see scratch.h. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scratch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

int scratch_enter(const char *tag) {
    snprintf(dir, sizeof dir, "/tmp/rlc-%s-XXXXXX", tag);
    if (!mkdtemp(dir)) return -1;
    return chdir(dir);
}

int scratch_leave(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return chdir("/") == 0 && system(cmd) == 0 ? 0 : -1;
}

const char *scratch_dir(void) { return dir; }

void scratch_write(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) fail_msg("cannot write %s", path);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

char *scratch_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

bool scratch_same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = scratch_slurp(a, &na), *y = scratch_slurp(b, &nb);
    bool same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

int scratch_run(const char *file, const RunOptions *opts, char *msg, size_t cap) {
    RunOptions quiet = {.threads = 1, .quiet = true};
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    int status = driver_run(file, opts ? opts : &quiet, out, err);
    if (msg && cap) {
        rewind(err);
        msg[fread(msg, 1, cap - 1, err)] = 0;
    }
    fclose(out);
    fclose(err);
    return status;
}

void scratch_run_ok(const char *file, const RunOptions *opts) {
    char msg[2048];
    if (scratch_run(file, opts, msg, sizeof msg) != 0) fail_msg("rlc run %s: %s", file, msg);
}

void scratch_last_metrics(const char *stage, const char *header, double *cols, int n) {
    char path[512];
    snprintf(path, sizeof path, "runs/%s/metrics.csv", stage);
    FILE *m = fopen(path, "r");
    if (!m) fail_msg("no %s", path);
    char head[1024], line[1024], last[1024] = "";
    assert_non_null(fgets(head, sizeof head, m));
    head[strcspn(head, "\n")] = 0;
    assert_string_equal(head, header);
    while (fgets(line, sizeof line, m)) snprintf(last, sizeof last, "%s", line);
    fclose(m);
    char *p = last;
    for (int i = 0; i < n; i++) {
        char *end;
        cols[i] = strtod(p, &end);
        if (end == p) fail_msg("%s: column %d of its last row is not a number: %s", path, i + 1, last);
        p = *end == ',' ? end + 1 : end;
    }
}
