/* safetensors: round trip with metadata, every kind of damage rejected with a
 * message naming the file (overlapping tensors, non-finite values and duplicate
 * names included), `load` listing all shape mismatches and refusing a file that
 * matches nothing, the writer's hygiene (mode, umask, symbolic links, temporary
 * files of killed saves, a full disk), and (when numpy is there) the file read by
 * an independent reader. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rlrt.h"

static char dir[256], path[300];
static float w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {-1, 0.5f}, t[1] = {2.66f};

static void write_sample(void) {
    rt_tensor_ref ts[3] = {{"enc.dense0.w", 2, {3, 2}, w}, {"enc.dense0.b", 1, {2}, b},
                           {"clip.t", 0, {0}, t}};
    rt_meta meta[2] = {{"format", RT_CKPT_FORMAT}, {"stage", "pre\"train"}};
    rt_error err = {0};
    assert_true(rt_ckpt_write(path, ts, 3, meta, 2, &err));
}

static void test_round_trip(void **state) {
    (void)state;
    write_sample();
    rt_error err = {0};
    rt_ckpt *c = rt_ckpt_read(path, &err);
    assert_non_null(c);
    assert_int_equal(rt_ckpt_count(c), 3);
    const rt_tensor_ref *tw = rt_ckpt_find(c, "enc.dense0.w");
    assert_non_null(tw);
    assert_int_equal(tw->rank, 2);
    assert_int_equal(tw->dims[0], 3);
    assert_memory_equal(tw->data, w, sizeof w);
    assert_int_equal(rt_ckpt_find(c, "clip.t")->rank, 0);
    assert_string_equal(rt_ckpt_meta(c, "stage"), "pre\"train");
    assert_null(rt_ckpt_meta(c, "nothing"));
    /* load: by name, skipping what the program lacks */
    float w2[6] = {0}, other[3] = {9, 9, 9};
    rt_tensor_ref targets[2] = {{"enc.dense0.w", 2, {3, 2}, w2}, {"dec.w", 1, {3}, other}};
    assert_int_equal(rt_ckpt_load_into(c, targets, 2, &err), 1);
    assert_memory_equal(w2, w, sizeof w);
    assert_true(other[0] == 9);
    /* every mismatch in one message, nothing copied */
    float x[6] = {0}, y[3] = {0};
    rt_tensor_ref bad[2] = {{"enc.dense0.w", 2, {2, 3}, x}, {"enc.dense0.b", 1, {3}, y}};
    assert_int_equal(rt_ckpt_load_into(c, bad, 2, &err), -1);
    assert_non_null(strstr(err.msg, "enc.dense0.w is [2, 3] here but [3, 2] in the file"));
    assert_non_null(strstr(err.msg, "enc.dense0.b is [3] here but [2]"));
    assert_non_null(strstr(err.msg, path));
    assert_true(x[0] == 0);
    rt_ckpt_free(c);
    /* no temporary file is left beside it */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", dir);
    assert_int_not_equal(system(cmd), 0);
}

static unsigned char *slurp(size_t *n) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*n);
    assert_int_equal(fread(buf, 1, *n, f), *n);
    fclose(f);
    return buf;
}

static void expect_rejected(const unsigned char *buf, size_t n, const char *what) {
    char p2[320];
    snprintf(p2, sizeof p2, "%s/bad.rlw", dir);
    FILE *f = fopen(p2, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    rt_error err = {0};
    assert_null(rt_ckpt_read(p2, &err));
    if (!strstr(err.msg, "bad.rlw") || !strstr(err.msg, what)) fail_msg("message: %s", err.msg);
}

static void test_damage(void **state) {
    (void)state;
    write_sample();
    size_t n;
    unsigned char *buf = slurp(&n);
    expect_rejected(buf, n - 4, "truncated");      /* data cut short */
    expect_rejected(buf, 5, "shorter than");
    unsigned char *copy = malloc(n);
    memcpy(copy, buf, n);
    copy[0] = 0xff, copy[3] = 0x7f;                /* header length past the end */
    expect_rejected(copy, n, "header length");
    memcpy(copy, buf, n);
    copy[8] = '[';                                 /* header not an object */
    expect_rejected(copy, n, "bad safetensors header");
    memcpy(copy, buf, n);
    char *h = (char *)copy + 8, *dt = strstr(h, "F32");
    memcpy(dt, "F64", 3);
    expect_rejected(copy, n, "F64");
    memcpy(copy, buf, n);
    char *sh = strstr(h, "[3,2]");
    memcpy(sh, "[3,3]", 5);                        /* shape disagrees with offsets */
    expect_rejected(copy, n, "bytes of data for 9");
    free(copy);
    free(buf);
    rt_error err = {0};
    assert_null(rt_ckpt_read("/nonexistent/p.rlw", &err));
    assert_non_null(strstr(err.msg, "/nonexistent/p.rlw"));
}

/* Every single-byte corruption of a parameter file reads or fails with a message
 * naming the file; none crashes (run under ASan in build-asan). */
static void test_corruption_never_crashes(void **state) {
    (void)state;
    write_sample();
    size_t n;
    unsigned char *buf = slurp(&n), *bad = malloc(n);
    char p2[320];
    snprintf(p2, sizeof p2, "%s/mut.rlw", dir);
    for (size_t pos = 0; pos < n; pos++) {
        for (int flip = 0; flip < 3; flip++) {
            memcpy(bad, buf, n);
            bad[pos] = flip == 0 ? (unsigned char)(bad[pos] ^ 0xff) : flip == 1 ? '9' : '"';
            FILE *f = fopen(p2, "wb");
            fwrite(bad, 1, n, f);
            fclose(f);
            rt_error err = {0};
            rt_ckpt *c = rt_ckpt_read(p2, &err);
            if (c) rt_ckpt_free(c);
            else if (!strstr(err.msg, "mut.rlw")) fail_msg("byte %zu: %s", pos, err.msg);
        }
    }
    free(bad);
    free(buf);
}

/* A file from a header and data built by hand: 8-byte length, header, data. */
static void write_raw(const char *p, const char *header, const void *data, size_t n) {
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    uint64_t hl = strlen(header);
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)(hl >> (8 * k));
    fwrite(len8, 1, 8, f);
    fwrite(header, 1, hl, f);
    fwrite(data, 1, n, f);
    fclose(f);
}

static void expect_read_error(const char *header, const void *data, size_t n, const char *what) {
    char p2[320];
    snprintf(p2, sizeof p2, "%s/v.rlw", dir);
    write_raw(p2, header, data, n);
    rt_error err = {0};
    rt_ckpt *c = rt_ckpt_read(p2, &err);
    if (c) fail_msg("read %s, expected an error about '%s'", header, what);
    if (!strstr(err.msg, "v.rlw") || !strstr(err.msg, what)) fail_msg("message: %s", err.msg);
}

static void test_validation(void **state) {
    (void)state;
    float v[4] = {1, 2, 3, 4};
    /* two tensors over the same bytes, and one inside another */
    expect_read_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                      v, sizeof v, "tensors 'a' (bytes [0, 8)) and 'b' (bytes [4, 12)) overlap");
    expect_read_error("{\"big\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                      "\"in\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                      v, sizeof v, "overlap");
    /* empty tensors hold no bytes, so they overlap nothing */
    char p2[320];
    snprintf(p2, sizeof p2, "%s/v.rlw", dir);
    write_raw(p2, "{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", v, sizeof v);
    rt_error err = {0};
    rt_ckpt *c = rt_ckpt_read(p2, &err);
    if (!c) fail_msg("%s", err.msg);
    rt_ckpt_free(c);
    /* a NaN and an infinity, named with their tensor */
    float bad[4] = {1, 2, NAN, 4};
    expect_read_error("{\"ok\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                      bad, sizeof bad, "tensor 'w' holds NaN at element 0");
    bad[2] = -INFINITY;
    expect_read_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                      bad, sizeof bad, "tensor 'w' holds an infinity at element 2");
    /* a duplicate name is named, wherever it is */
    expect_read_error("{\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                      "\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                      v, sizeof v, "duplicate key 'z'");
}

/* A file of n scalars named t(i * 7919 % n) (a permutation); dup: the last one
 * is named like the first. */
static void write_many(const char *p, int n, bool dup) {
    size_t cap = (size_t)n * 80 + 64;
    char *h = malloc(cap);
    float *data = calloc((size_t)n, sizeof *data);
    size_t used = (size_t)snprintf(h, cap, "{");
    for (int i = 0; i < n; i++) {
        data[i] = (float)i;
        int name = dup && i == n - 1 ? 0 : (int)((int64_t)i * 7919 % n);
        used += (size_t)snprintf(h + used, cap - used,
                                 "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[%d,%d]}",
                                 i ? "," : "", name, 4 * i, 4 * i + 4);
    }
    snprintf(h + used, cap - used, "}");
    write_raw(p, h, data, (size_t)n * 4);
    free(h);
    free(data);
}

/* Many names: every one found, a duplicate among them found. */
static void test_many_names(void **state) {
    (void)state;
    enum { N = 20000 };
    char p2[320];
    snprintf(p2, sizeof p2, "%s/many.rlw", dir);
    write_many(p2, N, false);
    rt_error err = {0};
    rt_ckpt *c = rt_ckpt_read(p2, &err);
    if (!c) fail_msg("%s", err.msg);
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", (int)((int64_t)i * 7919 % N));
        const rt_tensor_ref *t = rt_ckpt_find(c, name);
        assert_non_null(t);
        assert_true(t->data[0] == (float)i);
    }
    assert_null(rt_ckpt_find(c, "t"));
    rt_ckpt_free(c);
    write_many(p2, N, true);
    assert_null(rt_ckpt_read(p2, &err));
    assert_non_null(strstr(err.msg, "duplicate key 't0'"));
}

/* load: a file that matches no parameter is an error; a partial match says what
 * it took and what it did not. */
static void test_load_matches(void **state) {
    (void)state;
    write_sample();
    rt_error err = {0};
    rt_ckpt *c = rt_ckpt_read(path, &err);
    assert_non_null(c);
    float x[4] = {0};
    rt_tensor_ref none[2] = {{"head.w", 1, {2}, x}, {"head.b", 1, {2}, x + 2}};
    assert_int_equal(rt_ckpt_load_into(c, none, 2, &err), -1);
    if (!strstr(err.msg, "p.rlw: no tensor of the file is a parameter here") ||
        !strstr(err.msg, "the file holds: enc.dense0.w, enc.dense0.b, clip.t") ||
        !strstr(err.msg, "the parameters here: head.w, head.b"))
        fail_msg("message: %s", err.msg);
    char line[1024];
    float w2[6], b2[2];
    rt_tensor_ref part[3] = {{"enc.dense0.w", 2, {3, 2}, w2}, {"enc.dense0.b", 1, {2}, b2},
                             {"head.w", 1, {2}, x}};
    err = (rt_error){0};
    assert_int_equal(rt_ckpt_load_into(c, part, 3, &err), 2);
    assert_true(rt_ckpt_load_summary(c, part, 3, line, sizeof line));
    if (!strstr(line, "p.rlw: loaded 2 of 3 parameters (enc.dense0.w, enc.dense0.b)") ||
        !strstr(line, "not in the file, so as initialised: head.w") ||
        !strstr(line, "in the file but not parameters here: clip.t"))
        fail_msg("summary: %s", line);
    rt_tensor_ref whole[3] = {{"enc.dense0.w", 2, {3, 2}, w2}, {"enc.dense0.b", 1, {2}, b2},
                              {"clip.t", 0, {0}, x}};
    assert_false(rt_ckpt_load_summary(c, whole, 3, line, sizeof line));
    rt_ckpt_free(c);
}

static mode_t mode_of(const char *p) {
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 07777;
}

/* Files in the test folder whose name holds ".tmp". */
static int count_temps(void) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

/* The saved file keeps its mode, a new one follows the umask; a symbolic link is
 * followed and stays a link. */
static void test_write_mode_and_links(void **state) {
    (void)state;
    unlink(path);
    mode_t old = umask(027);
    write_sample();
    assert_int_equal(mode_of(path), 0640);
    umask(old);
    assert_int_equal(chmod(path, 0604), 0);
    write_sample();
    assert_int_equal(mode_of(path), 0604);
    /* a relative link in another folder: its target is replaced, the link stays */
    char sub[320], link_path[340], target[340];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0755);
    snprintf(link_path, sizeof link_path, "%s/link.rlw", sub);
    snprintf(target, sizeof target, "%s/real.rlw", dir);
    unlink(link_path);
    unlink(target);
    assert_int_equal(symlink("../real.rlw", link_path), 0);
    rt_tensor_ref ts[1] = {{"x", 1, {2}, b}};
    rt_error err = {0};
    assert_true(rt_ckpt_write(link_path, ts, 1, NULL, 0, &err)); /* dangling: creates the target */
    assert_true(rt_ckpt_write(link_path, ts, 1, NULL, 0, &err)); /* then replaces it */
    struct stat st;
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(target, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    rt_ckpt *c = rt_ckpt_read(link_path, &err);
    assert_non_null(c);
    rt_ckpt_free(c);
}

/* Temporary files of killed saves of a file are removed by its next save; one a
 * save in progress holds (locked), another file's, and another name's are kept. */
static void test_stale_temps_removed(void **state) {
    (void)state;
    write_sample();
    assert_int_equal(count_temps(), 0);
    char stale[2][340], held[340], other[340], odd[340];
    snprintf(stale[0], sizeof stale[0], "%s/p.rlw.tmpAb3xYz", dir);
    snprintf(stale[1], sizeof stale[1], "%s/p.rlw.tmp000000", dir);
    snprintf(held, sizeof held, "%s/p.rlw.tmpHELD01", dir);
    snprintf(other, sizeof other, "%s/q.rlw.tmpAb3xYz", dir);
    snprintf(odd, sizeof odd, "%s/p.rlw.tmpAb3xYz.keep", dir);
    const char *all[5] = {stale[0], stale[1], held, other, odd};
    for (int i = 0; i < 5; i++) {
        FILE *f = fopen(all[i], "w");
        fputs("partial", f);
        fclose(f);
    }
    int fd = open(held, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    /* the lock must be another process's: a child holds it while we save */
    pid_t pid = fork();
    if (pid == 0) {
        sleep(30);
        _exit(0);
    }
    close(fd); /* the child's copy of the descriptor keeps the lock */
    write_sample();
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(access(stale[0], F_OK), -1);
    assert_int_equal(access(stale[1], F_OK), -1);
    assert_int_equal(access(held, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    assert_int_equal(access(odd, F_OK), 0);
    /* its holder is gone: the next save removes it */
    write_sample();
    assert_int_equal(access(held, F_OK), -1);
    unlink(other);
    unlink(odd);
    assert_int_equal(count_temps(), 0);
}

/* A write that fails part-way (the file-size limit stands in for a full disk) is
 * an error naming the file, and leaves the old file and no temporary file. */
static void test_write_failure(void **state) {
    (void)state;
    write_sample();
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {1 << 16, 1 << 16};
        setrlimit(RLIMIT_FSIZE, &lim);
        static float big[1 << 16];
        rt_tensor_ref ts[1] = {{"big", 1, {1 << 16}, big}};
        rt_error err = {0};
        bool ok = rt_ckpt_write(path, ts, 1, NULL, 0, &err);
        _exit(!ok && strstr(err.msg, path) && strstr(err.msg, "cannot write the parameter file: File too large") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    rt_error err = {0};
    rt_ckpt *c = rt_ckpt_read(path, &err);
    assert_non_null(c);
    assert_non_null(rt_ckpt_find(c, "enc.dense0.w"));
    rt_ckpt_free(c);
    assert_int_equal(count_temps(), 0);
}

static void test_python_reads_it(void **state) {
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0) skip();
    write_sample();
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -c \"import json,struct,sys\n"
             "try:\n import numpy as np\n"
             "except ImportError:\n sys.exit(77)\n"
             "d=open('%s','rb').read(); n=struct.unpack('<Q',d[:8])[0]; h=json.loads(d[8:8+n])\n"
             "e=h['enc.dense0.w']; a,b=e['data_offsets']\n"
             "x=np.frombuffer(d[8+n+a:8+n+b],dtype='<f4').reshape(e['shape'])\n"
             "assert x[2,1]==6 and x.shape==(3,2) and h['__metadata__']['format']=='rlc-1'\"",
             path);
    int rc = system(cmd);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) skip(); /* no numpy: the check is optional */
    assert_int_equal(rc, 0);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rt_ckpt_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/p.rlw", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_corruption_never_crashes),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_many_names),
        cmocka_unit_test(test_load_matches),
        cmocka_unit_test(test_write_mode_and_links),
        cmocka_unit_test(test_stale_temps_removed),
        cmocka_unit_test(test_write_failure),
        cmocka_unit_test(test_python_reads_it),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
