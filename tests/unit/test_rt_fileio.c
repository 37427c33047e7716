/* fileio.c: the metrics log appended run after run (never truncated, a cut-off
 * line dropped, a changed header moved aside, every write checked), and whole-file
 * replacement (abort leaves nothing; a failure names the file). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

static char dir[256], path[300];

static void write_text(const char *p, const char *text) {
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void expect_text(const char *p, const char *want) {
    FILE *f = fopen(p, "r");
    if (!f) fail_msg("cannot read %s", p);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    if (strcmp(buf, want) != 0) fail_msg("%s holds:\n%s\nexpected:\n%s", p, buf, want);
}

static void one_run(const char *columns, const char *const *rows, int n) {
    rt_error err = {0};
    rt_metrics *m = rt_metrics_open(path, columns, &err);
    if (!m) fail_msg("%s", err.msg);
    for (int i = 0; i < n; i++) assert_true(rt_metrics_row(m, rows[i], &err));
    assert_true(rt_metrics_close(m, &err));
}

static void test_runs_append(void **state) {
    (void)state;
    const char *first[2] = {"1,10,0.5", "2,20,0.25"}, *second[1] = {"1,10,0.75"};
    one_run("epoch,step,loss", first, 2);
    one_run("epoch,step,loss", second, 1);
    /* a rerun killed before its first row leaves the file as it was */
    one_run("epoch,step,loss", NULL, 0);
    expect_text(path, "run,epoch,step,loss\n1,1,10,0.5\n1,2,20,0.25\n2,1,10,0.75\n");
    /* a row cut short by a crash is dropped; the run after it counts on */
    FILE *f = fopen(path, "a");
    fputs("3,1,1", f);
    fclose(f);
    one_run("epoch,step,loss", second, 1);
    expect_text(path, "run,epoch,step,loss\n1,1,10,0.5\n1,2,20,0.25\n2,1,10,0.75\n4,1,10,0.75\n");
}

/* Different columns (a report added) cannot share the header: the old file is
 * kept as metrics.N.csv and a new one begins. */
static void test_changed_columns_move_aside(void **state) {
    (void)state;
    const char *row[1] = {"1,10,0.5"}, *wide[1] = {"1,10,0.5,0.9"};
    one_run("epoch,step,loss", row, 1);
    one_run("epoch,step,loss,acc", wide, 1);
    char aside[340];
    snprintf(aside, sizeof aside, "%s/metrics.1.csv", dir);
    expect_text(aside, "run,epoch,step,loss\n1,1,10,0.5\n");
    expect_text(path, "run,epoch,step,loss,acc\n1,1,10,0.5,0.9\n");
    one_run("epoch,step,loss", row, 1);
    snprintf(aside, sizeof aside, "%s/metrics.2.csv", dir);
    expect_text(aside, "run,epoch,step,loss,acc\n1,1,10,0.5,0.9\n");
    /* a file from before the run column counts as other columns */
    write_text(path, "epoch,step,loss\n1,10,0.5\n");
    one_run("epoch,step,loss", row, 1);
    snprintf(aside, sizeof aside, "%s/metrics.3.csv", dir);
    expect_text(aside, "epoch,step,loss\n1,10,0.5\n");
    expect_text(path, "run,epoch,step,loss\n1,1,10,0.5\n");
}

/* A full disk: the header or the row that does not fit is an error naming the file. */
static void test_full_disk(void **state) {
    (void)state;
    if (access("/dev/full", W_OK) != 0) skip();
    assert_int_equal(symlink("/dev/full", path), 0);
    rt_error err = {0};
    assert_null(rt_metrics_open(path, "epoch,loss", &err));
    if (!strstr(err.msg, path) || !strstr(err.msg, "cannot write the metrics: No space left on device"))
        fail_msg("message: %s", err.msg);
}

static int count_entries(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_replace(void **state) {
    (void)state;
    char p[340];
    snprintf(p, sizeof p, "%s/words.vocab", dir);
    write_text(p, "old\n");
    rt_error err = {0};
    rt_replace r;
    assert_true(rt_replace_begin(&r, p, "vocabulary", &err));
    fputs("new\n", r.f);
    expect_text(p, "old\n"); /* nothing shows before the commit */
    assert_true(rt_replace_commit(&r, &err));
    expect_text(p, "new\n");
    assert_true(rt_replace_begin(&r, p, "vocabulary", &err));
    fputs("dropped\n", r.f);
    rt_replace_abort(&r);
    expect_text(p, "new\n");
    assert_int_equal(count_entries(), 1);
    /* a folder that is not there */
    snprintf(p, sizeof p, "%s/none/words.vocab", dir);
    assert_false(rt_replace_begin(&r, p, "vocabulary", &err));
    if (!strstr(err.msg, p) || !strstr(err.msg, "cannot write the vocabulary: No such file"))
        fail_msg("message: %s", err.msg);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rt_fileio_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    return 0;
}

static int clean(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/*", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_runs_append, clean),
        cmocka_unit_test_teardown(test_changed_columns_move_aside, clean),
        cmocka_unit_test_teardown(test_full_disk, clean),
        cmocka_unit_test_teardown(test_replace, clean),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
