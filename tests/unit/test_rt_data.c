/* Data sources and datasets: small idx/gz/csv/npy/text/tokens files written to a
 * temporary folder, their values read back, every malformed case rejected with a
 * message naming the file, and epochs (shuffle, limit, last partial batch, skipgram). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data_internal.h" /* rt_text_reads: the corpus cache */
#include "rlrt.h"

static char dir[256];

static void write_file(const char *name, const void *data, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_gz(const char *name, const void *data, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    gzFile f = gzopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    gzclose(f);
}

/* IDX images: 3 examples of 2x2 bytes, values 10*i + j. */
static size_t make_images(unsigned char *buf) {
    unsigned char h[16] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
    memcpy(buf, h, 16);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) buf[16 + 4 * i + j] = (unsigned char)(10 * i + j);
    return 28;
}

static rt_field_spec field(const char *name, bool i32, int64_t numel, rt_source_kind kind,
                           const char *path) {
    rt_field_spec f = {.name = name, .is_i32 = i32, .rank = 1, .dims = {numel}, .kind = kind, .path = path};
    return f;
}

static rt_dataset *load1(rt_field_spec *fields, int n, rt_error *err) {
    rt_dataset_spec s = {.name = "d", .base_dir = dir, .n_fields = n, .fields = fields};
    return rt_dataset_load(&s, err);
}

static void assert_error_names(rt_error *err, const char *a, const char *b) {
    assert_true(err->failed);
    if (!strstr(err->msg, a) || (b && !strstr(err->msg, b))) fail_msg("message: %s", err->msg);
}

static void test_idx_plain_gz_and_ops(void **state) {
    (void)state;
    unsigned char img[64];
    size_t n = make_images(img);
    write_file("img.idx", img, n);
    write_gz("img.idx.gz", img, n);
    unsigned char lab[11] = {0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9};
    write_gz("lab.gz", lab, sizeof lab);
    rt_field_spec f[3] = {field("x", false, 4, RT_SRC_IDX, "img.idx.gz"),
                          field("y", true, 1, RT_SRC_IDX, "lab.gz"),
                          field("z", false, 4, RT_SRC_IDX, "img.idx")};
    f[0].n_ops = 2;
    f[0].ops[0] = (rt_scalar_op){'/', false, 10};
    f[0].ops[1] = (rt_scalar_op){'-', true, 1}; /* 1 - x/10 */
    f[2].rank = 2;
    f[2].dims[0] = f[2].dims[1] = 2;            /* 2x2 into [2, 2] */
    rt_error err = {0};
    rt_dataset *ds = load1(f, 3, &err);
    assert_false(err.failed);
    assert_int_equal(rt_dataset_size(ds), 3);
    int idx[3] = {0, 1, 2};
    float x[12], z[12];
    int32_t y[3];
    void *out[3] = {x, y, z};
    rt_dataset_begin_epoch(ds, 0, 0, false, 0);
    assert_int_equal(rt_dataset_fill(ds, 0, 3, idx, 3, out), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(y[i], 7 + i);
        for (int j = 0; j < 4; j++) {
            assert_float_equal(x[4 * i + j], 1.0 - (10 * i + j) / 10.0, 1e-6);
            assert_float_equal(z[4 * i + j], 10 * i + j, 0);
        }
    }
    rt_dataset_free(ds);
}

static void test_idx_errors_name_the_file(void **state) {
    (void)state;
    unsigned char img[64];
    size_t n = make_images(img);
    write_file("short.idx", img, n - 1);
    img[2] = 0x42;
    write_file("magic.idx", img, n);
    img[2] = 8;
    rt_error err = {0};
    rt_field_spec f = field("x", false, 4, RT_SRC_IDX, "short.idx");
    assert_null(load1(&f, 1, &err));
    assert_error_names(&err, "short.idx", "short file");
    err = (rt_error){0};
    f.path = "magic.idx";
    assert_null(load1(&f, 1, &err));
    assert_error_names(&err, "magic.idx", "bad magic");
    /* values per example: 4 do not fill [5] */
    write_file("img4.idx", img, n);
    err = (rt_error){0};
    f = field("x", false, 5, RT_SRC_IDX, "img4.idx");
    assert_null(load1(&f, 1, &err));
    assert_error_names(&err, "img4.idx", "4 values per example");
    assert_error_names(&err, "[5]", NULL);
    /* examples: 3 images, 2 labels */
    unsigned char lab[10] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 2};
    write_file("lab2.idx", lab, sizeof lab);
    rt_field_spec two[2] = {field("x", false, 4, RT_SRC_IDX, "img4.idx"),
                            field("y", true, 1, RT_SRC_IDX, "lab2.idx")};
    err = (rt_error){0};
    assert_null(load1(two, 2, &err));
    assert_error_names(&err, "lab2.idx", "img4.idx");
    assert_error_names(&err, "2 examples", "3");
}

static void test_missing_file_lists_places(void **state) {
    (void)state;
    char extra[300];
    snprintf(extra, sizeof extra, "%s/extra", dir);
    mkdir(extra, 0700);
    setenv("RL_DATA_PATH", extra, 1);
    rt_error err = {0};
    rt_field_spec f = field("x", false, 4, RT_SRC_IDX, "nowhere/none.gz");
    assert_null(load1(&f, 1, &err));
    assert_error_names(&err, "none.gz", "/usr/share/datasets/nowhere/none.gz");
    assert_error_names(&err, "extra/nowhere/none.gz", dir);
    /* beside an installed program (PREFIX/bin -> PREFIX/share/rlc/data), then the
     * source tree's data/ that scripts/setup.sh fills */
    assert_error_names(&err, "/../share/rlc/data/nowhere/none.gz", RLC_SOURCE_DIR "/data/nowhere/none.gz");
    /* found through RL_DATA_PATH */
    unsigned char img[64];
    size_t n = make_images(img);
    write_file("extra/found.idx", img, n);
    err = (rt_error){0};
    f.path = "found.idx";
    rt_dataset *ds = load1(&f, 1, &err);
    assert_non_null(ds);
    rt_dataset_free(ds);
    unsetenv("RL_DATA_PATH");
}

static void test_csv(void **state) {
    (void)state;
    const char *good = "a,b,c\n1, 2,3\n\n4.5,-5,6e1\r\n";
    write_file("p.csv", good, strlen(good));
    rt_field_spec f = field("x", false, 3, RT_SRC_CSV, "p.csv");
    f.columns = 3;
    rt_error err = {0};
    rt_dataset *ds = load1(&f, 1, &err);
    assert_false(err.failed);
    assert_int_equal(rt_dataset_size(ds), 2);
    float x[6];
    int idx = 0;
    void *out[1] = {x};
    assert_int_equal(rt_dataset_fill(ds, 0, 8, &idx, 1, out), 2);
    float want[6] = {1, 2, 3, 4.5f, -5, 60};
    assert_memory_equal(x, want, sizeof want);
    rt_dataset_free(ds);
    const char *bad = "a,b,c\n1,2,3\n1,2,3\n1,2\n";
    write_file("bad.csv", bad, strlen(bad));
    f.path = "bad.csv";
    assert_null(load1(&f, 1, &err));
    assert_error_names(&err, "bad.csv:4:", "found 2");
    const char *word = "a,b,c\n1,zz,3\n";
    write_file("word.csv", word, strlen(word));
    err = (rt_error){0};
    f.path = "word.csv";
    assert_null(load1(&f, 1, &err));
    assert_error_names(&err, "word.csv:2:", "zz");
}

static size_t make_npy(unsigned char *buf, int version, const char *descr, const char *shape,
                       const void *data, size_t n) {
    char dict[128];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                      descr, shape);
    size_t pre = version == 1 ? 10 : 12, hl = (size_t)dl + 1;
    while ((pre + hl) % 64) hl++;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)version;
    buf[7] = 0;
    buf[8] = (unsigned char)hl;
    buf[9] = (unsigned char)(hl >> 8);
    if (version == 2) buf[10] = buf[11] = 0;
    memset(buf + pre, ' ', hl);
    memcpy(buf + pre, dict, (size_t)dl);
    buf[pre + hl - 1] = '\n';
    memcpy(buf + pre + hl, data, n);
    return pre + hl + n;
}

static void test_npy(void **state) {
    (void)state;
    unsigned char buf[512];
    float v[6] = {1, 2, 3, 4, 5, 6};
    write_file("f.npy", buf, make_npy(buf, 1, "<f4", "(2, 3)", v, sizeof v));
    int32_t iv[3] = {5, 6, 7};
    write_file("i.npy", buf, make_npy(buf, 2, "<i4", "(2,)", iv, 8));
    rt_field_spec f[2] = {field("z", false, 3, RT_SRC_NPY, "f.npy"), field("k", true, 1, RT_SRC_NPY, "i.npy")};
    rt_error err = {0};
    rt_dataset *ds = load1(f, 2, &err);
    assert_false(err.failed);
    float z[6];
    int32_t k[2];
    int idx[2] = {0, 1};
    void *out[2] = {z, k};
    assert_int_equal(rt_dataset_fill(ds, 0, 2, idx, 2, out), 2);
    assert_memory_equal(z, v, sizeof v);
    assert_int_equal(k[1], 6);
    rt_dataset_free(ds);
    write_file("d.npy", buf, make_npy(buf, 1, "<f8", "(2, 3)", v, sizeof v));
    f[0].path = "d.npy";
    assert_null(load1(f, 1, &err));
    assert_error_names(&err, "d.npy", "<f8");
    write_file("s.npy", buf, make_npy(buf, 1, "<f4", "(3, 3)", v, sizeof v));
    err = (rt_error){0};
    f[0].path = "s.npy";
    assert_null(load1(f, 1, &err));
    assert_error_names(&err, "s.npy", "short file");
    write_file("m.npy", "NUMPY", 5);
    err = (rt_error){0};
    f[0].path = "m.npy";
    assert_null(load1(f, 1, &err));
    assert_error_names(&err, "m.npy", "bad magic");
}

static void test_text_and_tokens(void **state) {
    (void)state;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/corpus", dir);
    mkdir(sub, 0700);
    const char *a = "The/at cat/nn sat/vbd\nthe/at dog/nn ./.\n", *b = "A/at cat/nn and/cc the/at rare/jj\n";
    write_file("corpus/b.txt", b, strlen(b));
    write_file("corpus/a.txt", a, strlen(a));
    rt_field_spec f = field("w", true, 1, RT_SRC_TEXT, "corpus");
    rt_dataset_spec s = {.name = "t", .base_dir = dir, .n_fields = 1, .fields = &f, .lowercase = true,
                         .min_count = 1};
    rt_error err = {0};
    rt_dataset *ds = rt_dataset_load(&s, &err);
    assert_false(err.failed);
    /* counts: the 3, cat 2, then a . and dog rare sat (1 each, by word); id 0 is
     * the unknown word, none here with min_count 1 */
    const char *order[] = {"<unk>", "the", "cat", ".", "a", "and", "dog", "rare", "sat"};
    int64_t vocab;
    assert_true(rt_dataset_property(ds, "vocab", &vocab));
    assert_int_equal(vocab, 9);
    for (int i = 0; i < 9; i++) assert_string_equal(rt_dataset_word(ds, i), order[i]);
    assert_int_equal(rt_dataset_size(ds), 11); /* a.txt before b.txt */
    int32_t w[11];
    int idx = 0;
    void *out[1] = {w};
    rt_dataset_fill(ds, 0, 11, &idx, 1, out);
    int32_t want[11] = {1, 2, 8, 1, 6, 3, 4, 2, 5, 1, 7};
    assert_memory_equal(w, want, sizeof want);
    char vp[300];
    snprintf(vp, sizeof vp, "%s/vocab.txt", dir);
    assert_true(rt_dataset_write_vocab(ds, vp, &err));
    FILE *vf = fopen(vp, "r");
    char line[64];
    assert_non_null(fgets(line, sizeof line, vf));
    assert_string_equal(line, "<unk>\n");
    assert_non_null(fgets(line, sizeof line, vf));
    assert_string_equal(line, "the\n");
    fclose(vf);
    rt_dataset_free(ds);

    const char *tok = "3 4 5 6\n7\n";
    write_file("t.tok", tok, strlen(tok));
    rt_field_spec tf = field("ids", true, 3, RT_SRC_TOKENS, "t.tok");
    tf.length = 3;
    ds = load1(&tf, 1, &err);
    assert_false(err.failed);
    int32_t ids[6];
    out[0] = ids;
    assert_int_equal(rt_dataset_fill(ds, 0, 2, &idx, 1, out), 2);
    int32_t want_ids[6] = {3, 4, 5, 7, 0, 0};
    assert_memory_equal(ids, want_ids, sizeof ids);
    assert_true(rt_dataset_property(ds, "vocab", &vocab));
    assert_int_equal(vocab, 8);
    rt_dataset_free(ds);
}

static void test_epochs_shuffle_limit_partial(void **state) {
    (void)state;
    char csv[4096] = "v\n";
    for (int i = 0; i < 10; i++) snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%d\n", i);
    write_file("ten.csv", csv, strlen(csv));
    rt_field_spec f = field("x", true, 1, RT_SRC_CSV, "ten.csv");
    f.columns = 1;
    rt_error err = {0};
    rt_dataset *ds = load1(&f, 1, &err);
    assert_non_null(ds);
    int idx = 0;
    int32_t a[10], b[10], c[10];
    void *oa[1] = {a}, *ob[1] = {b}, *oc[1] = {c};
    assert_int_equal(rt_dataset_begin_epoch(ds, 1, 0, true, 0), 10);
    assert_int_equal(rt_dataset_batches(ds, 4), 3);
    assert_int_equal(rt_dataset_fill(ds, 0, 4, &idx, 1, oa), 4);
    assert_int_equal(rt_dataset_fill(ds, 1, 4, &idx, 1, (void *[]){a + 4}), 4);
    assert_int_equal(rt_dataset_fill(ds, 2, 4, &idx, 1, (void *[]){a + 8}), 2); /* partial */
    int seen[10] = {0}, moved = 0;
    for (int i = 0; i < 10; i++) seen[a[i]]++, moved += a[i] != i;
    for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 0);
    rt_dataset_begin_epoch(ds, 1, 0, true, 0);
    rt_dataset_fill(ds, 0, 10, &idx, 1, ob);
    assert_memory_equal(a, b, sizeof a); /* same seed and epoch: same order */
    /* a process's share of a batch (docs/mpi.md): rows [first, first + count) of it */
    int32_t part[4] = {-1, -1, -1, -1};
    assert_int_equal(rt_dataset_batch_rows(ds, 1, 4), 4);
    assert_int_equal(rt_dataset_batch_rows(ds, 2, 4), 2);
    assert_int_equal(rt_dataset_batch_rows(ds, 3, 4), 0);
    assert_int_equal(rt_dataset_fill_range(ds, 1, 4, 2, 2, &idx, 1, (void *[]){part}), 2);
    assert_memory_equal(part, a + 6, 2 * sizeof *part);
    assert_int_equal(rt_dataset_fill_range(ds, 2, 4, 1, 1, &idx, 1, (void *[]){part}), 1);
    assert_int_equal(part[0], a[9]);
    assert_int_equal(rt_dataset_fill_range(ds, 2, 4, 1, 3, &idx, 1, (void *[]){part}), 1); /* past the end */
    assert_int_equal(rt_dataset_fill_range(ds, 2, 4, 2, 1, &idx, 1, (void *[]){part}), 0);
    rt_dataset_begin_epoch(ds, 1, 1, true, 0);
    rt_dataset_fill(ds, 0, 10, &idx, 1, oc);
    assert_true(memcmp(a, c, sizeof a) != 0);
    assert_int_equal(rt_dataset_begin_epoch(ds, 1, 0, true, 3), 3); /* limit: the first 3 */
    assert_int_equal(rt_dataset_fill(ds, 0, 10, &idx, 1, oc), 3);
    for (int i = 0; i < 3; i++) assert_true(c[i] < 3);
    rt_dataset_free(ds);
}

static void test_skipgram(void **state) {
    (void)state;
    char text[8192] = "";
    const char *w[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    for (int line = 0; line < 40; line++) {
        for (int k = 0; k < 12; k++)
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s ", w[(line * 7 + k * k) % 8]);
        strcat(text, "\n");
    }
    write_file("sg.txt", text, strlen(text));
    rt_dataset_spec s = {.name = "sg", .base_dir = dir, .skipgram = true, .text_path = "sg.txt",
                         .min_count = 1, .window = 2, .negatives = 3, .subsample = 1e-1};
    rt_error err = {0};
    rt_dataset *ds = rt_dataset_load(&s, &err);
    assert_non_null(ds);
    int64_t vocab;
    assert_true(rt_dataset_property(ds, "vocab", &vocab));
    assert_int_equal(vocab, 8);
    int f[3] = {rt_dataset_field_index(ds, "center"), rt_dataset_field_index(ds, "context"),
                rt_dataset_field_index(ds, "negatives")};
    assert_int_equal(rt_dataset_field_numel(ds, f[2]), 3);
    int64_t n = rt_dataset_begin_epoch(ds, 5, 0, true, 0);
    /* 40 lines x 12 words, window 2: at most 4 pairs a word; subsampling drops some */
    assert_true(n > 100 && n < 40 * 12 * 4);
    int32_t *c1 = malloc((size_t)n * 4), *x1 = malloc((size_t)n * 4), *g1 = malloc((size_t)n * 12);
    int32_t *c2 = malloc((size_t)n * 4), *x2 = malloc((size_t)n * 4), *g2 = malloc((size_t)n * 12);
    rt_dataset_fill(ds, 0, n, f, 3, (void *[]){c1, x1, g1});
    for (int64_t i = 0; i < n; i++) {
        assert_true(c1[i] >= 0 && c1[i] < 8 && x1[i] >= 0 && x1[i] < 8);
        for (int k = 0; k < 3; k++) assert_true(g1[3 * i + k] >= 0 && g1[3 * i + k] < 8);
    }
    /* the same (seed, epoch) gives the same examples, whatever batch size reads them */
    assert_int_equal(rt_dataset_begin_epoch(ds, 5, 0, true, 0), n);
    for (int64_t b = 0; b < rt_dataset_batches(ds, 7); b++)
        rt_dataset_fill(ds, b, 7, f, 3, (void *[]){c2 + 7 * b, x2 + 7 * b, g2 + 21 * b});
    assert_memory_equal(c1, c2, (size_t)n * 4);
    assert_memory_equal(x1, x2, (size_t)n * 4);
    assert_memory_equal(g1, g2, (size_t)n * 12);
    /* a fresh epoch draws afresh */
    int64_t n2 = rt_dataset_begin_epoch(ds, 5, 1, true, 0);
    rt_dataset_fill(ds, 0, n < n2 ? n : n2, f, 3, (void *[]){c2, x2, g2});
    assert_true(n != n2 || memcmp(c1, c2, (size_t)n * 4) != 0 || memcmp(g1, g2, (size_t)n * 12) != 0);
    free(c1), free(x1), free(g1), free(c2), free(x2), free(g2);
    rt_dataset_free(ds);
}


/* Dynamic window: with no subsampling, a line of distinct words gives every
 * neighbour at distance 1, about half of those at distance 2, none further. */
static void test_skipgram_window_and_negatives(void **state) {
    (void)state;
    char text[4096] = "";
    for (int k = 0; k < 200; k++) snprintf(text + strlen(text), sizeof text - strlen(text), "w%03d ", k);
    strcat(text, "\n");
    write_file("line.txt", text, strlen(text));
    rt_dataset_spec s = {.name = "line", .base_dir = dir, .skipgram = true, .text_path = "line.txt",
                         .min_count = 1, .window = 2, .negatives = 1, .subsample = 0};
    rt_error err = {0};
    rt_dataset *ds = rt_dataset_load(&s, &err);
    assert_non_null(ds);
    int64_t n = rt_dataset_begin_epoch(ds, 1, 0, false, 0);
    int32_t *c = malloc((size_t)n * 4), *x = malloc((size_t)n * 4), *g = malloc((size_t)n * 4);
    int f[3] = {0, 1, 2};
    rt_dataset_fill(ds, 0, n, f, 3, (void *[]){c, x, g});
    int d1 = 0, d2 = 0;
    for (int64_t i = 0; i < n; i++) {
        /* all counts are 1, so ids follow the words' sorted order: id = k */
        int d = abs(atoi(rt_dataset_word(ds, c[i]) + 1) - atoi(rt_dataset_word(ds, x[i]) + 1));
        assert_true(d == 1 || d == 2);
        d1 += d == 1, d2 += d == 2;
    }
    assert_int_equal(d1, 2 * 199);
    assert_true(d2 > 2 * 198 / 4 && d2 < 3 * 2 * 198 / 4);
    free(c), free(x), free(g);
    rt_dataset_free(ds);

    /* negatives follow count^0.75: "a" 27 times, "b" once a line (8): ratio (27/8)^0.75 */
    text[0] = 0;
    for (int line = 0; line < 8; line++) {
        for (int k = 0; k < 27 / 8 + (line < 27 % 8); k++) strcat(text, "a ");
        strcat(text, "b\n");
    }
    write_file("ab.txt", text, strlen(text));
    s = (rt_dataset_spec){.name = "ab", .base_dir = dir, .skipgram = true, .text_path = "ab.txt",
                          .min_count = 1, .window = 1, .negatives = 200, .subsample = 0};
    ds = rt_dataset_load(&s, &err);
    assert_non_null(ds);
    n = rt_dataset_begin_epoch(ds, 2, 0, false, 0);
    g = malloc((size_t)n * 200 * 4);
    x = malloc((size_t)n * 4);
    int fx[2] = {1, 2};
    rt_dataset_fill(ds, 0, n, fx, 2, (void *[]){x, g});
    assert_string_equal(rt_dataset_word(ds, 0), "a");
    /* P(a) per draw is pa; a draw equal to the context is drawn once more, so a
     * negative is `a` with probability pa^2 when the context is a, pa + pb*pa when b */
    double pa = pow(27, 0.75) / (pow(27, 0.75) + pow(8, 0.75)), want = 0;
    int64_t na = 0;
    for (int64_t i = 0; i < n; i++) {
        want += x[i] == 0 ? pa * pa : pa + (1 - pa) * pa;
        for (int k = 0; k < 200; k++) na += g[200 * i + k] == 0;
    }
    assert_true(fabs((double)na / (double)(n * 200) - want / (double)n) < 0.02);
    free(x);
    free(g);
    rt_dataset_free(ds);
}

/* Subsampling keeps a word of frequency f with probability (sqrt(f/t) + 1) t/f. */
static void test_skipgram_subsampling(void **state) {
    (void)state;
    char *text = malloc(200000);
    size_t len = 0;
    for (int k = 0; k < 5000; k++) /* "the" every other word; ten pairs a line */
        len += (size_t)snprintf(text + len, 200000 - len, "the x%d%s", k % 1000, k % 10 == 9 ? "\n" : " ");
    write_file("the.txt", text, len);
    free(text);
    int f[2] = {0, 1};
    double frac[2];
    for (int sub = 0; sub < 2; sub++) {
        rt_dataset_spec s = {.name = "t", .base_dir = dir, .skipgram = true, .text_path = "the.txt",
                             .min_count = 1, .window = 1, .negatives = 0, .subsample = sub ? 1e-2 : 0};
        rt_error err = {0};
        rt_dataset *ds = rt_dataset_load(&s, &err);
        assert_non_null(ds);
        int64_t n = rt_dataset_begin_epoch(ds, 3, 0, false, 0);
        int32_t *c = malloc((size_t)n * 4), *x = malloc((size_t)n * 4);
        rt_dataset_fill(ds, 0, n, f, 2, (void *[]){c, x});
        int64_t the = 0;
        for (int64_t i = 0; i < n; i++) the += c[i] == 0;
        frac[sub] = (double)the / (double)n;
        free(c), free(x);
        rt_dataset_free(ds);
    }
    /* f(the) = 0.5, t = 0.01: kept with p = 0.16, the rare words (f = 5e-4) always */
    assert_true(fabs(frac[0] - 0.5) < 0.02);
    assert_true(frac[1] < 0.3);
}

/* A gzip file cut before its trailer is an error, not a shorter corpus. */
static void test_truncated_gzip(void **state) {
    (void)state;
    unsigned char img[64];
    size_t n = make_images(img);
    write_gz("whole.gz", img, n);
    char p[512];
    snprintf(p, sizeof p, "%s/whole.gz", dir);
    FILE *f = fopen(p, "rb");
    unsigned char gz[256];
    size_t len = fread(gz, 1, sizeof gz, f);
    fclose(f);
    /* without its 8-byte trailer (CRC, length), then cut inside the data too */
    size_t cuts[2] = {len - 8, len / 2};
    for (int c = 0; c < 2; c++) {
        write_file("cut.gz", gz, cuts[c]);
        rt_field_spec fs = field("x", false, 4, RT_SRC_IDX, "cut.gz");
        rt_error err = {0};
        assert_null(load1(&fs, 1, &err));
        assert_error_names(&err, "cut.gz", "compressed data cut short");
    }
    /* and the same for a text corpus */
    write_gz("words.gz", "a b c\nd e f\n", 12);
    snprintf(p, sizeof p, "%s/words.gz", dir);
    f = fopen(p, "rb");
    len = fread(gz, 1, sizeof gz, f);
    fclose(f);
    write_file("words_cut.gz", gz, len - 4);
    rt_field_spec t = field("w", true, 1, RT_SRC_TEXT, "words_cut.gz");
    rt_error err = {0};
    assert_null(load1(&t, 1, &err));
    assert_error_names(&err, "words_cut.gz", "compressed data cut short");
}

/* Counts that would overflow: an npy shape whose product passes 2^64, a tokens
 * length that no memory holds. */
static void test_overflowing_counts(void **state) {
    (void)state;
    unsigned char buf[512];
    float v[2] = {1, 2};
    const char *shapes[3] = {"(2, 1099511627776, 1099511627776)", "(1, 65536, 65536, 65536, 65536)",
                             "(4611686018427387904, 1)"};
    const char *why[3] = {"too large", "too large", "malformed shape"};
    for (int k = 0; k < 3; k++) {
        write_file("big.npy", buf, make_npy(buf, 1, "<f4", shapes[k], v, sizeof v));
        rt_field_spec f = field("x", false, 1, RT_SRC_NPY, "big.npy");
        rt_error err = {0};
        assert_null(load1(&f, 1, &err));
        assert_error_names(&err, "big.npy", why[k]);
    }
    /* 9 lines x 2^61 ids wraps 64 bits */
    write_file("t.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", 18);
    rt_field_spec t = field("t", true, 2, RT_SRC_TOKENS, "t.txt");
    t.length = INT64_C(1) << 61;
    rt_error err = {0};
    assert_null(load1(&t, 1, &err));
    assert_error_names(&err, "t.txt", "too large");
}

/* NaN and infinity in data are errors at load naming the file and line or example;
 * so is a finite value that f32 cannot hold, or that the load's arithmetic spoils. */
static void test_nonfinite_data(void **state) {
    (void)state;
    const char *csv[3] = {"a,b\n1,2\n3,nan\n", "a,b\n1,2\n\n-inf,4\n", "a,b\n1e39,2\n"};
    const char *msg[3] = {"c.csv:3: value 2 is not a finite f32: 'nan'",
                          "c.csv:4: value 1 is not a finite f32: '-inf'",
                          "c.csv:2: value 1 is not a finite f32: '1e39'"};
    for (int k = 0; k < 3; k++) {
        write_file("c.csv", csv[k], strlen(csv[k]));
        rt_field_spec f = field("x", false, 2, RT_SRC_CSV, "c.csv");
        f.columns = 2;
        rt_error err = {0};
        assert_null(load1(&f, 1, &err));
        assert_error_names(&err, msg[k], NULL);
    }
    unsigned char buf[512];
    float v[6] = {1, 2, 3, 4, INFINITY, 6};
    write_file("n.npy", buf, make_npy(buf, 1, "<f4", "(3, 2)", v, sizeof v));
    rt_field_spec f = field("x", false, 2, RT_SRC_NPY, "n.npy");
    rt_error err = {0};
    assert_null(load1(&f, 1, &err));
    assert_error_names(&err, "n.npy: example 2 holds an infinity (value 1 of the example)", NULL);
    v[4] = NAN;
    write_file("n.npy", buf, make_npy(buf, 1, "<f4", "(3, 2)", v, sizeof v));
    err = (rt_error){0};
    assert_null(load1(&f, 1, &err));
    assert_error_names(&err, "n.npy: example 2 holds NaN", NULL);
    /* IDX of doubles: 2 examples of 1 value, the second NaN (big-endian) */
    unsigned char idx[24] = {0, 0, 0x0E, 1, 0, 0, 0, 2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
                             0x7f, 0xf8, 0, 0, 0, 0, 0, 0};
    write_file("d.idx", idx, sizeof idx);
    rt_field_spec fd = field("x", false, 1, RT_SRC_IDX, "d.idx");
    err = (rt_error){0};
    assert_null(load1(&fd, 1, &err));
    assert_error_names(&err, "d.idx: example 1 holds NaN", NULL);
    /* a value made infinite by the load's arithmetic */
    const char *big = "a\n1\n\n3e38\n";
    write_file("c.csv", big, strlen(big));
    rt_field_spec fo = field("x", false, 1, RT_SRC_CSV, "c.csv");
    fo.columns = 1;
    fo.n_ops = 1;
    fo.ops[0] = (rt_scalar_op){'*', false, 10};
    err = (rt_error){0};
    assert_null(load1(&fo, 1, &err));
    assert_error_names(&err, "c.csv:4: value 1 of field x is 3e+39 after the load's arithmetic", NULL);
}

/* Indices checked against what the program uses them for, naming file and line
 * (csv, tokens) or example (npy). */
static void test_index_limits(void **state) {
    (void)state;
    const char *ys = "y\n0\n2\n\n3\n1\n";
    write_file("y.csv", ys, strlen(ys));
    rt_field_spec f = field("y", true, 1, RT_SRC_CSV, "y.csv");
    f.columns = 1;
    rt_error err = {0};
    rt_dataset *ds = load1(&f, 1, &err);
    assert_non_null(ds);
    assert_true(rt_dataset_check_index(ds, 0, 4, "a class of one_hot(y, 4)", &err));
    assert_false(rt_dataset_check_index(ds, 0, 3, "a class of one_hot(y, 3) at t.rl:4:9", &err));
    assert_error_names(&err, "y.csv:5: field y holds 3, but it is used as a class of one_hot(y, 3) "
                             "at t.rl:4:9, so it must lie in [0, 3)", NULL);
    rt_dataset_free(ds);
    write_file("t.txt", "1 2\n4 0\n", 8);
    rt_field_spec t = field("t", true, 2, RT_SRC_TOKENS, "t.txt");
    t.length = 2;
    err = (rt_error){0};
    ds = load1(&t, 1, &err);
    assert_non_null(ds);
    assert_false(rt_dataset_check_index(ds, 0, 4, "a row of e.w (4 rows)", &err));
    assert_error_names(&err, "t.txt:2: field t holds 4, but it is used as a row of e.w (4 rows)", NULL);
    rt_dataset_free(ds);
    unsigned char buf[512];
    int32_t iv[3] = {0, -1, 1};
    write_file("k.npy", buf, make_npy(buf, 1, "<i4", "(3,)", iv, sizeof iv));
    rt_field_spec k = field("k", true, 1, RT_SRC_NPY, "k.npy");
    err = (rt_error){0};
    ds = load1(&k, 1, &err);
    assert_non_null(ds);
    assert_false(rt_dataset_check_index(ds, 0, 2, "a row of e.w (2 rows)", &err));
    assert_error_names(&err, "k.npy: example 1 (counted from 0): field k holds -1", NULL);
    rt_dataset_free(ds);
}

/* Every single-byte corruption of small idx and npy files either loads or fails
 * with a message naming the file; none crashes (run under ASan in build-asan). */
static void test_corruption_never_crashes(void **state) {
    (void)state;
    unsigned char img[64], npy[512], bad[512];
    size_t ni = make_images(img);
    float v[6] = {1, 2, 3, 4, 5, 6};
    size_t nn = make_npy(npy, 1, "<f4", "(2, 3)", v, sizeof v);
    struct { const unsigned char *data; size_t n; rt_source_kind kind; int64_t numel; } cases[2] = {
        {img, ni, RT_SRC_IDX, 4}, {npy, nn, RT_SRC_NPY, 3}};
    for (int c = 0; c < 2; c++) {
        for (size_t pos = 0; pos < cases[c].n; pos++) {
            for (int flip = 0; flip < 2; flip++) {
                memcpy(bad, cases[c].data, cases[c].n);
                bad[pos] = flip ? (unsigned char)(bad[pos] ^ 0xff) : (unsigned char)'9';
                write_file("mut.bin", bad, cases[c].n);
                rt_field_spec f = field("x", false, cases[c].numel, cases[c].kind, "mut.bin");
                rt_error err = {0};
                rt_dataset *ds = load1(&f, 1, &err);
                if (ds) rt_dataset_free(ds);
                else assert_error_names(&err, "mut.bin", NULL);
            }
        }
    }
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rt_data_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static rt_dataset_spec seq_spec(const char *name, const char *path, int64_t length, int64_t stride,
                                int64_t min_count) {
    rt_dataset_spec s = {.name = name, .base_dir = dir, .sequences = true, .text_path = path,
                         .min_count = min_count, .seq_length = length, .seq_stride = stride};
    return s;
}

/* A NUL byte separates words: "th\0\0a th\0e" is the words th a th e (the
 * fuzzer found a word holding a NUL read past its stored copy). */
static void test_nul_separates_words(void **state) {
    (void)state;
    const char text[] = "th\0\0a th\0e\n";
    write_file("nul.txt", text, sizeof text - 1);
    rt_dataset_spec s = seq_spec("nul", "nul.txt", 1, 1, 1);
    rt_error err = {0};
    rt_dataset *ds = rt_dataset_load(&s, &err);
    if (!ds) fail_msg("%s", err.msg);
    int64_t vocab;
    assert_true(rt_dataset_property(ds, "vocab", &vocab));
    assert_int_equal(vocab, 4); /* <unk>, th (twice), then a and e by their bytes */
    assert_string_equal(rt_dataset_word(ds, 1), "th");
    assert_string_equal(rt_dataset_word(ds, 2), "a");
    assert_string_equal(rt_dataset_word(ds, 3), "e");
    assert_int_equal(rt_dataset_size(ds), 4);
    rt_dataset_free(ds);
}

/* Windows of ids over files joined in name order: id 0 for a word under
 * min_count, 1.. by falling count then bytes; the last incomplete window is
 * not an example. */
static void test_sequences(void **state) {
    (void)state;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/seq", dir);
    mkdir(sub, 0700);
    const char *a = "b a c\na b\n", *b = "a d b\n";
    write_file("seq/2.txt", b, strlen(b));
    write_file("seq/1.txt", a, strlen(a));
    /* tokens: b a c a b a d b; counts a 3, b 3, c 1, d 1: a=1 b=2, c and d unknown */
    rt_dataset_spec s = seq_spec("seq", "seq", 3, 2, 2);
    rt_error err = {0};
    rt_dataset *ds = rt_dataset_load(&s, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(rt_dataset_n_fields(ds), 1);
    assert_string_equal(rt_dataset_field_name(ds, 0), "ids");
    assert_int_equal(rt_dataset_field_numel(ds, 0), 3);
    assert_true(rt_dataset_field_is_i32(ds, 0));
    int64_t vocab;
    assert_true(rt_dataset_property(ds, "vocab", &vocab));
    assert_int_equal(vocab, 3);
    assert_string_equal(rt_dataset_word(ds, 0), "<unk>");
    assert_string_equal(rt_dataset_word(ds, 1), "a");
    assert_string_equal(rt_dataset_word(ds, 2), "b");
    assert_null(rt_dataset_word(ds, 3));
    /* the windows are not stored: the ids are checked against the vocabulary */
    assert_true(rt_dataset_check_index(ds, 0, 3, "a class of one_hot(ids, 3)", &err));
    assert_false(rt_dataset_check_index(ds, 0, 2, "a class of one_hot(ids, 2) at t.rl:4:9", &err));
    assert_non_null(strstr(err.msg, "dataset seq: field ids holds ids up to 2"));
    assert_non_null(strstr(err.msg, "[0, 2)"));
    /* 8 tokens, windows at 0, 2, 4 (6 would end at 9) */
    assert_int_equal(rt_dataset_size(ds), 3);
    int32_t w[9];
    int idx = 0;
    void *out[1] = {w};
    assert_int_equal(rt_dataset_fill(ds, 0, 4, &idx, 1, out), 3);
    int32_t want[9] = {2, 1, 0, 0, 1, 2, 2, 1, 0};
    assert_memory_equal(w, want, sizeof want);
    rt_dataset_free(ds);

    /* start = 0.5: the windows of the corpus's second half, ids of the whole corpus's vocabulary */
    s.seq_start = 0.5;
    s.seq_length = 2;
    ds = rt_dataset_load(&s, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(rt_dataset_size(ds), 2);
    assert_int_equal(rt_dataset_fill(ds, 0, 4, &idx, 1, out), 2);
    int32_t second_half[4] = {2, 1, 0, 2}; /* b a | d b */
    assert_memory_equal(w, second_half, sizeof second_half);
    rt_dataset_free(ds);
    /* end = 0.3: tokens 0..2, shorter than a window of 3 */
    s.seq_start = 0;
    s.seq_end = 0.3;
    s.seq_length = 3;
    err = (rt_error){0};
    assert_null(rt_dataset_load(&s, &err));
    if (!strstr(err.msg, "dataset seq: a window of length 3 is longer than its part of the corpus"))
        fail_msg("%s", err.msg);

    /* stride 1, every word kept */
    s = seq_spec("seq", "seq", 8, 1, 1);
    ds = rt_dataset_load(&s, &err);
    assert_non_null(ds);
    assert_int_equal(rt_dataset_size(ds), 1);
    assert_true(rt_dataset_property(ds, "vocab", &vocab));
    assert_int_equal(vocab, 5);
    rt_dataset_free(ds);
}

/* unit = "char": every byte a token, the newline and space included; bytes
 * that do not print are written \xNN in the vocabulary. */
static void test_sequences_char_unit(void **state) {
    (void)state;
    const char *t = "abba b\n";
    write_file("chars.txt", t, strlen(t));
    rt_dataset_spec s = seq_spec("chars", "chars.txt", 7, 7, 1);
    s.char_unit = true;
    rt_error err = {0};
    rt_dataset *ds = rt_dataset_load(&s, &err);
    if (!ds) fail_msg("%s", err.msg);
    /* counts: b 3, a 2, then '\n' and ' ' (1 each, by byte: 0x0a before 0x20) */
    const char *order[] = {"<unk>", "b", "a", "\\x0a", "\\x20"};
    int64_t vocab;
    assert_true(rt_dataset_property(ds, "vocab", &vocab));
    assert_int_equal(vocab, 5);
    for (int i = 0; i < 5; i++) assert_string_equal(rt_dataset_word(ds, i), order[i]);
    int32_t w[7];
    int idx = 0;
    void *out[1] = {w};
    assert_int_equal(rt_dataset_fill(ds, 0, 1, &idx, 1, out), 1);
    int32_t want[7] = {2, 1, 1, 2, 4, 1, 3};
    assert_memory_equal(w, want, sizeof want);
    rt_dataset_free(ds);
}

/* A prompt is split as the corpus was: words on white space (lowercased when
 * the corpus is, a word/TAG keeping word), ids of the dataset's vocabulary, 0
 * for a word under min_count or never seen, with where each token lies; bytes
 * with unit "char". An index limit below the windows' ids is an error naming
 * the dataset (the windows have no stored copy to scan). */
static void test_sequences_encode(void **state) {
    (void)state;
    const char *t = "The cat the dog the cat\n";
    write_file("enc.txt", t, strlen(t));
    rt_dataset_spec s = seq_spec("enc", "enc.txt", 2, 1, 2);
    s.lowercase = true;
    rt_error err = {0};
    rt_dataset *ds = rt_dataset_load(&s, &err);
    if (!ds) fail_msg("%s", err.msg);
    /* the 3, cat 2: kept; dog 1: unknown */
    int32_t ids[8];
    int64_t starts[8], lens[8];
    assert_int_equal(rt_dataset_encode(ds, "  THE dog/NN zebra cat/VB", ids, starts, lens, 8), 4);
    int32_t want[4] = {1, 0, 0, 2};
    assert_memory_equal(ids, want, sizeof want);
    assert_int_equal(starts[1], 6);
    assert_int_equal(lens[1], 6);
    assert_int_equal(rt_dataset_encode(ds, "the cat", NULL, NULL, NULL, 0), 2);
    assert_true(rt_dataset_check_index(ds, 0, 3, "a row", &err));
    assert_false(rt_dataset_check_index(ds, 0, 2, "a row of e (2 rows)", &err));
    assert_non_null(strstr(err.msg, "dataset enc"));
    assert_non_null(strstr(err.msg, "a row of e (2 rows)"));
    rt_dataset_free(ds);

    s = seq_spec("encb", "enc.txt", 2, 1, 1);
    s.char_unit = true;
    ds = rt_dataset_load(&s, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(rt_dataset_encode(ds, "t q", ids, NULL, NULL, 8), 3);
    assert_string_equal(rt_dataset_word(ds, ids[0]), "t");
    assert_string_equal(rt_dataset_word(ds, ids[1]), "\\x20");
    assert_int_equal(ids[2], 0);
    rt_dataset_free(ds);
}

/* tags = true: the field `tags` holds each token's TAG id (word/TAG), 1.. by
 * falling count then bytes, 0 for a token without one; the property `tags`
 * counts them with 0. The corpus is read once whether tags are asked or not; a
 * corpus without any tag is an error naming the dataset. */
static void test_sequences_tags(void **state) {
    (void)state;
    const char *t = "The/at cat/nn sat/vbd the/AT x\nthe/at a/b/nn\n";
    write_file("tagged.txt", t, strlen(t));
    int64_t before = rt_text_reads();
    rt_dataset_spec s = seq_spec("tagged", "tagged.txt", 3, 3, 1);
    s.tags = true;
    s.lowercase = true;
    rt_error err = {0};
    rt_dataset *ds = rt_dataset_load(&s, &err);
    if (!ds) fail_msg("%s", err.msg);
    assert_int_equal(rt_dataset_n_fields(ds), 2);
    assert_string_equal(rt_dataset_field_name(ds, 1), "tags");
    int64_t n;
    assert_true(rt_dataset_property(ds, "tags", &n));
    assert_int_equal(n, 5); /* none, at (3), nn (2), AT, vbd */
    int32_t ids[6], tags[6];
    int fields[2] = {0, 1};
    void *out[2] = {ids, tags};
    assert_int_equal(rt_dataset_fill(ds, 0, 2, fields, 2, out), 2);
    /* windows: the cat sat | the x the (a/b/nn, the word a/b, is in no window) */
    int32_t want_tags[6] = {1, 2, 4, 3, 0, 1};
    assert_memory_equal(tags, want_tags, sizeof want_tags);
    assert_string_equal(rt_dataset_word(ds, ids[0]), "the");
    assert_false(rt_dataset_check_index(ds, 1, 4, "a class", &err));
    assert_non_null(strstr(err.msg, "field tags holds ids up to 4"));
    rt_dataset_free(ds);
    s.tags = false;
    ds = rt_dataset_load(&s, &err);
    assert_non_null(ds);
    assert_int_equal(rt_dataset_n_fields(ds), 1);
    assert_false(rt_dataset_property(ds, "tags", &n));
    assert_int_equal(rt_text_reads(), before + 1);
    rt_dataset_free(ds);

    const char *plain = "no tags here\n";
    write_file("untagged.txt", plain, strlen(plain));
    s = seq_spec("plain", "untagged.txt", 2, 1, 1);
    s.tags = true;
    err = (rt_error){0};
    assert_null(rt_dataset_load(&s, &err));
    if (!strstr(err.msg, "dataset plain: `tags = true` needs word/TAG tokens")) fail_msg("%s", err.msg);
}

static void test_sequences_errors_name_the_dataset(void **state) {
    (void)state;
    const char *t = "one two three\n";
    write_file("short.txt", t, strlen(t));
    write_file("empty.txt", "", 0);
    rt_error err = {0};
    rt_dataset_spec s = seq_spec("longer", "short.txt", 4, 4, 1);
    assert_null(rt_dataset_load(&s, &err));
    assert_error_names(&err, "dataset longer", "longer than the corpus 'short.txt' (3 tokens)");
    err = (rt_error){0};
    s = seq_spec("blank", "empty.txt", 1, 1, 1);
    assert_null(rt_dataset_load(&s, &err));
    assert_error_names(&err, "dataset blank", "is empty");
    err = (rt_error){0};
    s = seq_spec("zero", "short.txt", 0, 1, 1);
    assert_null(rt_dataset_load(&s, &err));
    assert_error_names(&err, "dataset zero", "length >= 1");
    err = (rt_error){0};
    s = seq_spec("gone", "no-such-corpus", 2, 2, 1);
    assert_null(rt_dataset_load(&s, &err));
    assert_error_names(&err, "no-such-corpus", NULL);
}

/* skipgram's `vocab` from the spec alone: the loaded dataset's value at every
 * min_count, the corpus read once for both; a spec the load would refuse (bad
 * window, no word kept) is left to the load and its message. */
static void test_skipgram_vocab_from_the_spec(void **state) {
    (void)state;
    const char *t = "p q r p q p\ns p\n";
    write_file("spec.txt", t, strlen(t));
    int64_t before = rt_text_reads();
    for (int64_t min_count = 1; min_count <= 4; min_count++) {
        rt_dataset_spec sg = {.name = "sp", .base_dir = dir, .skipgram = true, .text_path = "spec.txt",
                              .min_count = min_count, .window = 2, .negatives = 1};
        int64_t quick = -1, loaded = -1;
        assert_true(rt_dataset_spec_property(&sg, "vocab", &quick));
        rt_error err = {0};
        rt_dataset *ds = rt_dataset_load(&sg, &err);
        if (!ds) fail_msg("%s", err.msg);
        assert_true(rt_dataset_property(ds, "vocab", &loaded));
        assert_int_equal(quick, loaded);
        assert_int_equal(quick, min_count == 1 ? 4 : min_count == 2 ? 2 : 1);
        rt_dataset_free(ds);
    }
    assert_int_equal(rt_text_reads(), before + 1);
    int64_t v = -1;
    rt_dataset_spec none = {.name = "sp", .base_dir = dir, .skipgram = true, .text_path = "spec.txt",
                            .min_count = 5, .window = 2, .negatives = 1};
    assert_false(rt_dataset_spec_property(&none, "vocab", &v));
    none.min_count = 1;
    none.window = 0;
    assert_false(rt_dataset_spec_property(&none, "vocab", &v));
    none.window = 2;
    assert_false(rt_dataset_spec_property(&none, "words", &v));
    rt_dataset_spec seq = seq_spec("sq", "spec.txt", 2, 1, 1);
    assert_false(rt_dataset_spec_property(&seq, "vocab", &v));
    assert_int_equal(v, -1);
}

/* A corpus is read once per process whatever loads it (sequences, a text field,
 * skipgram, with any min_count), and again only when a file changes. */
/* Words of equal count sort by their bytes (unsigned), past a long shared
 * prefix, a shorter word before its extensions. */
static void test_vocab_ties_by_bytes(void **state) {
    (void)state;
    const char *text = "administrator administration zz administrative administ abc\xc3\xa9 abc administrations\n";
    write_file("ties.txt", text, strlen(text));
    rt_error err = {0};
    const rt_text *t = rt_text_load(dir, "ties.txt", false, false, &err);
    if (!t) fail_msg("%s", err.msg);
    const char *want[] = {"abc", "abc\xc3\xa9", "administ", "administration", "administrations",
                          "administrative", "administrator", "zz"};
    assert_int_equal(t->n_words, 8);
    for (int i = 0; i < 8; i++) assert_string_equal(t->words[i], want[i]);
}

/* The corpus's files written into a new folder `name` (the same bytes in every
 * folder, so only the reading differs). */
static void write_parts_corpus(const char *name) {
    static const char *files[] = {
        "The/at cat/nn sat/vbd\n\nthe/at Dog/nn ./.\n", /* a blank line */
        "",                                              /* an empty file */
        "\nA/at cat/NN and/cc\tthe/at rare/jj",          /* starts with a newline, no last one */
        "dog cat plain words/ /slash a/b/c\n",           /* tokens without a tag, odd slashes */
        "late/nn words/nns only/rb here/rb\n\n\n",
        "THE/at the/at The/at CAT/nn\n",
        "x\ny\nz\n",
    };
    char sub[300];
    snprintf(sub, sizeof sub, "%s/%s", dir, name);
    mkdir(sub, 0700);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char fn[64];
        snprintf(fn, sizeof fn, "%s/f%zu.txt", name, i);
        write_file(fn, files[i], strlen(files[i]));
    }
}

static void assert_texts_equal(const rt_text *a, const rt_text *b) {
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->ids, b->ids, (size_t)a->n * sizeof *a->ids);
    assert_int_equal(a->n_lines, b->n_lines);
    assert_memory_equal(a->lines, b->lines, (size_t)(a->n_lines + 1) * sizeof *a->lines);
    assert_int_equal(a->n_words, b->n_words);
    for (int64_t i = 0; i < a->n_words; i++) {
        assert_string_equal(a->words[i], b->words[i]);
        assert_int_equal(a->counts[i], b->counts[i]);
    }
    assert_int_equal(a->n_tags, b->n_tags);
    assert_true((a->tags == NULL) == (b->tags == NULL));
    if (a->tags) assert_memory_equal(a->tags, b->tags, (size_t)a->n * sizeof *a->tags);
    for (int64_t i = 0; i < a->n_tags; i++) {
        assert_string_equal(a->tag_names[i], b->tag_names[i]);
        assert_int_equal(a->tag_counts[i], b->tag_counts[i]);
    }
}

/* A corpus read by several threads, each a run of files, is the one a single
 * read gives: ids, vocabulary, counts, tags and line starts, in words (as is and
 * lowercased) and in bytes; a file that cannot be read is named as before. */
static void test_corpus_read_in_parts(void **state) {
    (void)state;
    write_parts_corpus("parts1");
    const char *folders[] = {"parts2", "parts3", "parts7", "parts8"};
    int parts[] = {2, 3, 7, 8}; /* 8: more parts than files */
    for (int f = 0; f < 4; f++) write_parts_corpus(folders[f]);
    rt_error err = {0};
    for (int mode = 0; mode < 3; mode++) {
        bool lowercase = mode == 1, chars = mode == 2;
        rt_text_set_read_parts(1);
        const rt_text *one = rt_text_load(dir, "parts1", lowercase, chars, &err);
        if (!one) fail_msg("%s", err.msg);
        assert_true(one->n > 20);
        assert_true(chars || one->n_tags > 0);
        for (int f = 0; f < 4; f++) {
            rt_text_set_read_parts(parts[f]);
            const rt_text *split = rt_text_load(dir, folders[f], lowercase, chars, &err);
            if (!split) fail_msg("%s", err.msg);
            assert_texts_equal(one, split);
        }
    }
    /* the first file that fails is the one named, whichever part it is in */
    write_parts_corpus("partsbad");
    write_file("partsbad/f5.txt", "\x1f\x8b\x08\x00garbage", 12);
    write_file("partsbad/f6.txt", "\x1f\x8b\x08\x00garbage", 12);
    for (int p = 1; p <= 7; p += 3) {
        rt_text_set_read_parts(p);
        err = (rt_error){0};
        assert_null(rt_text_load(dir, "partsbad", p == 4, false, &err));
        assert_true(err.failed);
        if (!strstr(err.msg, "partsbad/f5.txt")) fail_msg("%s", err.msg);
    }
    rt_text_set_read_parts(0);
}

/* The distinct words of test_corpus_many_words: thousands (the word table
 * grows many times), words that share their first 8 bytes and differ past
 * them, words of every length 1..20 that are prefixes of each other, and words
 * of 255 bytes and more (a slot keeps at most 255 as a length). */
enum { MANY_SHORT = 3000, MANY_LONG = 1000, MANY_PREFIXES = 20, MANY_HUGE = 4 };
enum { MANY_WORDS = MANY_SHORT + MANY_LONG + MANY_PREFIXES + MANY_HUGE, MANY_FILES = 6, WORD_CAP = 400 };

static void many_word(int i, char w[WORD_CAP]) {
    if (i < MANY_SHORT) snprintf(w, WORD_CAP, "w%d", i);
    else if ((i -= MANY_SHORT) < MANY_LONG) snprintf(w, WORD_CAP, "abcdefgh%d", i);
    else if ((i -= MANY_LONG) < MANY_PREFIXES) snprintf(w, WORD_CAP, "%.*s", i + 1, "abcdefghijklmnopqrstuvwxyz");
    else {
        i -= MANY_PREFIXES; /* 300 x then 1 or 2; 256 y, then 255 (which 256's first bytes match) */
        size_t n = i < 2 ? 301 : (size_t)(256 - (i - 2));
        memset(w, i < 2 ? 'x' : 'y', n);
        if (i < 2) w[300] = (char)('1' + i);
        w[n] = 0;
    }
}

/* Reads a corpus of thousands of distinct words (test_corpus_many_words) written
 * into two folders, once whole and once in 3 parts. */
static void read_many_words(const char *one_folder, const char *parts_folder) {
    size_t cap = (size_t)MANY_WORDS * 5 * 32 + MANY_HUGE * 5 * WORD_CAP, len = 0;
    char *text = malloc(cap), w[WORD_CAP];
    int *word_of = malloc((size_t)MANY_WORDS * 5 * sizeof *word_of); /* per token: the word written */
    int *tag_of = malloc((size_t)MANY_WORDS * 5 * sizeof *tag_of);   /* and its tag, -1 for none */
    assert_true(text && word_of && tag_of);
    int64_t n = 0;
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < MANY_WORDS; i++) {
            if (i % 5 < round) continue;
            many_word(i, w);
            const char *sep = n % 10 == 9 ? "\n" : " ";
            word_of[n] = i;
            tag_of[n] = (i + round) % 3 ? -1 : i % 7;
            if (tag_of[n] < 0) len += (size_t)snprintf(text + len, cap - len, "%s%s", w, sep);
            else len += (size_t)snprintf(text + len, cap - len, "%s/t%d%s", w, tag_of[n], sep);
            n++;
        }
    assert_true(len < cap);
    const char *folders[] = {one_folder, parts_folder};
    for (int f = 0; f < 2; f++) {
        char sub[300];
        snprintf(sub, sizeof sub, "%s/%s", dir, folders[f]);
        mkdir(sub, 0700);
        /* files end at a line's end near each sixth of the text */
        size_t from = 0;
        for (int k = 0; k < MANY_FILES; k++) {
            size_t to = k + 1 == MANY_FILES ? len : len * (size_t)(k + 1) / MANY_FILES;
            while (to < len && text[to - 1] != '\n') to++;
            char fn[64];
            snprintf(fn, sizeof fn, "%s/f%d.txt", folders[f], k);
            write_file(fn, text + from, to - from);
            from = to;
        }
    }
    rt_error err = {0};
    rt_text_set_read_parts(1);
    const rt_text *t = rt_text_load(dir, one_folder, false, false, &err);
    if (!t) fail_msg("%s", err.msg);
    assert_int_equal(t->n, n);
    assert_int_equal(t->n_words, MANY_WORDS);
    assert_int_equal(t->n_tags, 7);
    for (int64_t p = 0; p < n; p++) {
        many_word(word_of[p], w);
        assert_string_equal(t->words[t->ids[p]], w);
        assert_int_equal(t->counts[t->ids[p]], 1 + word_of[p] % 5);
        if (tag_of[p] < 0) {
            assert_int_equal(t->tags[p], -1);
        } else {
            char tag[16];
            snprintf(tag, sizeof tag, "t%d", tag_of[p]);
            assert_string_equal(t->tag_names[t->tags[p]], tag);
        }
    }
    for (int64_t r = 1; r < t->n_words; r++)
        assert_true(t->counts[r - 1] > t->counts[r] ||
                    (t->counts[r - 1] == t->counts[r] && strcmp(t->words[r - 1], t->words[r]) < 0));
    rt_text_set_read_parts(3);
    const rt_text *split = rt_text_load(dir, parts_folder, false, false, &err);
    if (!split) fail_msg("%s", err.msg);
    assert_texts_equal(t, split);
    rt_text_set_read_parts(0);
    free(text);
    free(word_of);
    free(tag_of);
}

/* A corpus of thousands of distinct words, word i written 1 + i % 5 times (in
 * five interleaved rounds, some with a tag), in six files: every token's word
 * and tag are the ones written and every word's count its own, the vocabulary
 * is in its order (falling count, ties by bytes), and a read in parts gives the
 * same; all of it again with the hash cut to 3 bits and to a high one (every
 * word collides with many others: words of the same length and first 8 bytes
 * are told apart by their bytes alone). */
static void test_corpus_many_words(void **state) {
    (void)state;
    const uint64_t masks[] = {~0ull, 7, 1ull << 63};
    for (int m = 0; m < 3; m++) {
        char one[32], parts[32];
        snprintf(one, sizeof one, "many1_%d", m);
        snprintf(parts, sizeof parts, "many3_%d", m);
        rt_text_set_hash_mask(masks[m]);
        read_many_words(one, parts);
    }
    rt_text_set_hash_mask(~0ull);
}

static void test_corpus_read_once(void **state) {
    (void)state;
    const char *t = "x y z x\n";
    write_file("cached.txt", t, strlen(t));
    int64_t before = rt_text_reads();
    rt_error err = {0};
    rt_dataset_spec s = seq_spec("c1", "cached.txt", 2, 1, 1);
    rt_dataset *a = rt_dataset_load(&s, &err);
    assert_non_null(a);
    assert_int_equal(rt_text_reads(), before + 1);
    s.min_count = 2;
    rt_dataset *b = rt_dataset_load(&s, &err);
    assert_non_null(b);
    rt_field_spec f = field("w", true, 1, RT_SRC_TEXT, "cached.txt");
    rt_dataset_spec fs = {.name = "c3", .base_dir = dir, .n_fields = 1, .fields = &f, .min_count = 1};
    rt_dataset *c = rt_dataset_load(&fs, &err);
    assert_non_null(c);
    rt_dataset_spec sg = {.name = "c4", .base_dir = dir, .skipgram = true, .text_path = "cached.txt",
                          .min_count = 1, .window = 1, .negatives = 1};
    rt_dataset *d = rt_dataset_load(&sg, &err);
    if (!d) fail_msg("%s", err.msg);
    assert_int_equal(rt_text_reads(), before + 1);
    int64_t vocab;
    assert_true(rt_dataset_property(b, "vocab", &vocab));
    assert_int_equal(vocab, 2); /* only x reaches min_count 2 */
    rt_dataset_free(a);
    rt_dataset_free(b);
    rt_dataset_free(c);
    rt_dataset_free(d);
    /* the same corpus in lower case is another reading */
    s.lowercase = true;
    a = rt_dataset_load(&s, &err);
    assert_non_null(a);
    assert_int_equal(rt_text_reads(), before + 2);
    rt_dataset_free(a);
    /* a changed file is read again */
    const char *t2 = "x y z x w\n";
    write_file("cached.txt", t2, strlen(t2));
    s.lowercase = false;
    a = rt_dataset_load(&s, &err);
    assert_non_null(a);
    assert_int_equal(rt_text_reads(), before + 3);
    assert_int_equal(rt_dataset_size(a), 4);
    rt_dataset_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_plain_gz_and_ops), cmocka_unit_test(test_idx_errors_name_the_file),
        cmocka_unit_test(test_missing_file_lists_places), cmocka_unit_test(test_csv),
        cmocka_unit_test(test_npy), cmocka_unit_test(test_text_and_tokens),
        cmocka_unit_test(test_epochs_shuffle_limit_partial), cmocka_unit_test(test_skipgram),
        cmocka_unit_test(test_skipgram_window_and_negatives), cmocka_unit_test(test_skipgram_subsampling),
        cmocka_unit_test(test_corruption_never_crashes), cmocka_unit_test(test_truncated_gzip),
        cmocka_unit_test(test_overflowing_counts), cmocka_unit_test(test_nonfinite_data),
        cmocka_unit_test(test_index_limits), cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_sequences_char_unit), cmocka_unit_test(test_sequences_errors_name_the_dataset),
        cmocka_unit_test(test_sequences_encode), cmocka_unit_test(test_sequences_tags),
        cmocka_unit_test(test_corpus_read_once), cmocka_unit_test(test_corpus_read_in_parts),
        cmocka_unit_test(test_corpus_many_words), cmocka_unit_test(test_vocab_ties_by_bytes),
        cmocka_unit_test(test_skipgram_vocab_from_the_spec), cmocka_unit_test(test_nul_separates_words),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
