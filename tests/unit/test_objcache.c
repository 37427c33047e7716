/* test_objcache.c — the persistent object cache of `rlc run` (objcache.c):
 *  - a second run of the same program takes every step from the cache and
 *    trains bit for bit as the first and as a --no-cache run (the stages of
 *    the first run are compiled in parallel);
 *  - a changed program misses;
 *  - a damaged entry (bit flip, truncation, a foreign file under its name) is
 *    a miss: the step is compiled again, the run is unchanged, and the entry
 *    is whole again afterwards;
 *  - a size only a corpus knows (skip-gram's and sequences' `vocab`, in words or
 *    bytes, and `tags`) is remembered for the next run, and counted again when
 *    the corpus changes. */
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
#include <unistd.h>

#include "scratch.h"

static const char *program =
    "use std.nn\n"
    "dataset d { x: [3] = csv(\"points.csv\", columns = 3) }\n"
    "encoder f(x: [B, 3]) -> [B, 3] = dense(tanh(dense(x, 8)), 3)\n"
    "train fit {\n"
    "    data: d  batch: 4  epochs: 2  optimizer: adam(lr = 0.01)  save: \"fit.rlw\"\n"
    "    e = f(x) - x\n"
    "    minimize mean(e * e)\n"
    "}\n"
    "eval score {\n"
    "    data: d  batch: 5\n"
    "    report err = mean(abs(f(x) - x))\n"
    "}\n";

/* Both stages compile in one jit_compile_many call, in parallel where there are cores. */
enum { STAGES = 2 };

/* Runs prog.rl; its step log and parameters land in TAG.steps and TAG.rlw.
 * Returns how many steps came from the cache, and sets *compiled to how many
 * were looked up. */
static int run_file_as(const char *file, const char *tag, bool no_cache, int *compiled) {
    char log[64];
    snprintf(log, sizeof log, "%s.steps", tag);
    RunOptions o = {.threads = 1, .quiet = false, .no_cache = no_cache, .step_log = log};
    FILE *out = tmpfile();
    assert_non_null(out);
    assert_int_equal(driver_run(file, &o, out, stderr), 0);
    rewind(out);
    char line[512];
    int hits = 0, total = 0;
    while (fgets(line, sizeof line, out)) {
        const char *c = strstr(line, " steps from the cache");
        if (strncmp(line, "compile:", 8) != 0 || !c) continue;
        /* the process's CPU time to ready, beside the wall time */
        const char *cpu = strstr(line, " ms CPU since rlc started");
        assert_non_null(cpu);
        while (cpu > line && cpu[-1] != ',') cpu--;
        double cpu_ms = -1;
        assert_int_equal(sscanf(cpu, " %lf", &cpu_ms), 1);
        assert_true(cpu_ms > 0);
        const char *p = c;
        while (p > line && p[-1] != ',') p--;
        assert_int_equal(sscanf(p, " %d of %d", &hits, &total), 2);
    }
    fclose(out);
    char rlw[64];
    snprintf(rlw, sizeof rlw, "%s.rlw", tag);
    assert_int_equal(rename("fit.rlw", rlw), 0);
    *compiled = total;
    return hits;
}

static int run_as(const char *tag, bool no_cache, int *compiled) {
    return run_file_as("prog.rl", tag, no_cache, compiled);
}

enum { MAX_ENTRIES = 64 };

/* The paths of the object entries in the cache (at most MAX_ENTRIES). */
static int entries(char names[MAX_ENTRIES][512]) {
    DIR *d = opendir("cache/rlc");
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < MAX_ENTRIES;) {
        size_t len = strlen(e->d_name);
        if (len > 2 && strcmp(e->d_name + len - 2, ".o") == 0)
            snprintf(names[n++], 512, "cache/rlc/%s", e->d_name);
    }
    closedir(d);
    return n;
}

static void test_second_run_hits_and_trains_the_same(void **state) {
    (void)state;
    int compiled;
    assert_int_equal(run_as("first", false, &compiled), 0);
    assert_int_equal(compiled, STAGES);
    char names[MAX_ENTRIES][512];
    /* each object under the hash of its IR and under the hash of the program's inputs */
    assert_int_equal(entries(names), 2 * STAGES);
    assert_int_equal(run_as("second", false, &compiled), STAGES);
    assert_int_equal(run_as("fresh", true, &compiled), 0);
    assert_int_equal(compiled, 0); /* --no-cache does not look */
    assert_true(scratch_same_file("first.steps", "second.steps"));
    assert_true(scratch_same_file("first.steps", "fresh.steps"));
    assert_true(scratch_same_file("first.rlw", "second.rlw"));
    assert_true(scratch_same_file("first.rlw", "fresh.rlw"));
}

static void test_changed_program_misses(void **state) {
    (void)state;
    int compiled;
    run_as("warm", false, &compiled);
    size_t n;
    char *text = scratch_slurp("prog.rl", &n);
    char *edit = malloc(n + 16);
    assert_non_null(edit);
    const char *at = strstr(text, "dense(x, 8)");
    snprintf(edit, n + 16, "%.*sdense(x, 9)%s", (int)(at - text), text, at + strlen("dense(x, 8)"));
    scratch_write("prog.rl", edit);
    assert_int_equal(run_as("changed", false, &compiled), 0);
    assert_int_equal(compiled, STAGES);
    scratch_write("prog.rl", text);
    free(text);
    free(edit);
}

/* A run whose every step the cache has under the program's inputs (sources, data
 * sizes, the build of rlc) takes them without emitting IR, so it needs none of the
 * entries named by IR: the same program at another path (other inputs, the same
 * IR) adds only its inputs' entries; with every other entry gone, it still hits
 * every step and trains the same, while the first path, whose entries are gone,
 * compiles again. */
static void test_hit_by_inputs_needs_no_ir(void **state) {
    (void)state;
    int compiled;
    run_as("here", false, &compiled);
    char before[MAX_ENTRIES][512], after[MAX_ENTRIES][512];
    int n_before = entries(before);
    assert_true(n_before <= MAX_ENTRIES - STAGES);
    size_t n;
    char *text = scratch_slurp("prog.rl", &n);
    scratch_write("copy.rl", text);
    free(text);
    assert_int_equal(run_file_as("copy.rl", "there", false, &compiled), STAGES); /* by IR */
    assert_int_equal(entries(after), n_before + STAGES);
    for (int i = 0; i < n_before; i++) assert_int_equal(unlink(before[i]), 0);
    assert_int_equal(run_file_as("copy.rl", "there_again", false, &compiled), STAGES);
    assert_true(scratch_same_file("there.steps", "there_again.steps"));
    assert_true(scratch_same_file("there.rlw", "there_again.rlw"));
    assert_int_equal(run_as("here_again", false, &compiled), 0);
    assert_true(scratch_same_file("here.steps", "here_again.steps"));
}

static void damage_and_rerun(void (*damage)(const char *path)) {
    int compiled;
    run_as("whole", false, &compiled);
    char names[MAX_ENTRIES][512];
    int n = entries(names);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++) damage(names[i]);
    assert_int_equal(run_as("damaged", false, &compiled), 0);
    assert_true(scratch_same_file("whole.steps", "damaged.steps"));
    assert_true(scratch_same_file("whole.rlw", "damaged.rlw"));
    /* the recompiled step replaced the damaged entry */
    int hits = run_as("mended", false, &compiled);
    assert_int_equal(compiled, STAGES);
    assert_int_equal(hits, STAGES);
}

static void flip_a_payload_byte(const char *path) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, -100, SEEK_END);
    int c = fgetc(f);
    fseek(f, -100, SEEK_END);
    fputc(c ^ 0x10, f);
    fclose(f);
}

static void cut_in_half(const char *path) {
    size_t n;
    char *s = scratch_slurp(path, &n);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(s, 1, n / 2, f);
    fclose(f);
    free(s);
}

static void replace_with_foreign_file(const char *path) { scratch_write(path, "not an object\n"); }

static void test_flipped_byte_is_a_miss(void **state) {
    (void)state;
    damage_and_rerun(flip_a_payload_byte);
}

static void test_truncated_entry_is_a_miss(void **state) {
    (void)state;
    damage_and_rerun(cut_in_half);
}

static void test_foreign_file_is_a_miss(void **state) {
    (void)state;
    damage_and_rerun(replace_with_foreign_file);
}

/* A skip-gram program: its tables are [words.vocab, 4], a size only the corpus knows. */
static const char *skipgram_program =
    "use std.nn\n"
    "use std.loss\n"
    "dataset words = skipgram(text(\"corpus.txt\", min_count = 1), window = 2, negatives = 2, subsample = 0)\n"
    "encoder word(w: i32[...]) -> [..., 4] {\n"
    "    param e: [words.vocab, 4] = uniform(-0.1, 0.1)\n"
    "    return e[w]\n"
    "}\n"
    "decoder ctx(c: i32[...]) -> [..., 4] {\n"
    "    param e: [words.vocab, 4] = zeros\n"
    "    return e[c]\n"
    "}\n"
    "train sgns {\n"
    "    data: words  batch: 4  epochs: 1  optimizer: sgd(lr = 0.1)  save: \"sg.rlw\"\n"
    "    o = ctx(concat(reshape(context, [B, 1]), negatives, axis = 1))\n"
    "    minimize negative_sampling(word(center), o[:, 0], o[:, 1:3])\n"
    "}\n";

/* The remembered properties (`*.dim` entries): how many, and the value of the last. */
static int dim_entries(char *last, size_t cap) {
    DIR *d = opendir("cache/rlc");
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".dim") == 0 && ++n)
            snprintf(last, cap, "cache/rlc/%s", e->d_name);
    }
    closedir(d);
    return n;
}

static long long dim_value(const char *path) {
    size_t n;
    char *text = scratch_slurp(path, &n);
    assert_true(n > 2 && text[n - 1] == '\n');
    text[n - 1] = 0;
    long long v = atoll(strrchr(text, '\n') + 1);
    free(text);
    return v;
}

static long long file_size(const char *path) {
    size_t n;
    free(scratch_slurp(path, &n));
    return (long long)n;
}

/* `words.vocab` is read from the corpus once and remembered under the cache
 * directory, keyed by the corpus file: a second run compiles with the remembered
 * value (here a doctored one, to see that it is used), a changed corpus is counted
 * again, and --no-cache reads the corpus and remembers nothing. */
static void test_corpus_vocab_remembered(void **state) {
    (void)state;
    scratch_write("corpus.txt", "a b c d a b a\nc a e\n");
    scratch_write("sg.rl", skipgram_program);
    RunOptions o = {.threads = 1, .quiet = true, .steps = 2};
    char path[512] = "";
    int before = dim_entries(path, sizeof path);
    scratch_run_ok("sg.rl", &o);
    assert_int_equal(dim_entries(path, sizeof path), before + 1);
    assert_int_equal(dim_value(path), 5); /* a b c d e */
    long long five = file_size("sg.rlw");

    size_t n;
    char *text = scratch_slurp(path, &n);
    text[n - 2] = '8'; /* ...5\n -> ...8\n */
    scratch_write(path, text);
    free(text);
    scratch_run_ok("sg.rl", &o);
    assert_int_equal(dim_entries(path, sizeof path), before + 1);
    /* two [8, 4] tables instead of [5, 4] (with what the file keeps per row) */
    assert_true(file_size("sg.rlw") > five);

    RunOptions fresh = o;
    fresh.no_cache = true;
    scratch_run_ok("sg.rl", &fresh);
    assert_int_equal(file_size("sg.rlw"), five);
    assert_int_equal(dim_entries(path, sizeof path), before + 1);

    scratch_write("corpus.txt", "a b c d a b a\nc a e f\n");
    scratch_run_ok("sg.rl", &o);
    assert_int_equal(dim_entries(path, sizeof path), before + 2);
}

/* A language model over windows of a text corpus: unit "word" or "char"; with
 * tags, its read-out is [.., words.tags] too. */
static void write_sequences_program(const char *unit, bool tags) {
    char text[1600];
    snprintf(text, sizeof text,
             "use std.nn\n"
             "use std.loss\n"
             "dataset words = sequences(text(\"seq.txt\", unit = \"%s\"%s), length = 3, stride = 1)\n"
             "train lm {\n"
             "    data: words  batch: 2  epochs: 1  optimizer: sgd(lr = 0.1)  save: \"lm.rlw\"\n"
             "    param e: [words.vocab, 4] = normal(0, 0.1)\n"
             "    minimize cross_entropy(dense(e[ids[:, 0:2]], words.vocab), ids[:, 1:3])%s\n"
             "}\n",
             unit, tags ? ", tags = true" : "",
             tags ? " + cross_entropy(dense(e[ids], words.tags), tags)" : "");
    scratch_write("lm.rl", text);
}

/* The `*.dim` entries whose key starts with `what` (after the magic) and, where
 * value >= 0, that hold value: how many, and the path of one in path. */
static int dim_entries_of(const char *what, long long value, char *path, size_t cap) {
    DIR *d = opendir("cache/rlc");
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".dim") != 0) continue;
        char entry[600];
        snprintf(entry, sizeof entry, "cache/rlc/%s", e->d_name);
        size_t size;
        char *text = scratch_slurp(entry, &size);
        const char *key = strchr(text, '\n');
        bool match = key && strncmp(key + 1, what, strlen(what)) == 0;
        free(text);
        if (match && (value < 0 || dim_value(entry) == value) && ++n) snprintf(path, cap, "%s", entry);
    }
    closedir(d);
    return n;
}

/* Sets the value of the .dim entry at path (its last line). */
static void doctor_dim(const char *path, long long value) {
    size_t n;
    char *text = scratch_slurp(path, &n);
    text[n - 1] = 0;
    *strrchr(text, '\n') = 0;
    char *doctored = malloc(n + 32);
    assert_non_null(doctored);
    sprintf(doctored, "%s\n%lld\n", text, value);
    scratch_write(path, doctored);
    free(doctored);
    free(text);
}

/* sequences' `vocab` (kept words + 1 for the unknown) as the skip-gram one above,
 * in units of unit: remembered, used, and counted again for a changed corpus. */
static void check_sequences_vocab_remembered(const char *unit, const char *corpus, long long vocab,
                                             const char *changed, long long changed_vocab) {
    scratch_write("seq.txt", corpus);
    write_sequences_program(unit, false);
    RunOptions o = {.threads = 1, .quiet = true, .steps = 2};
    char path[600] = "";
    int before = dim_entries_of("sequences vocab", -1, path, sizeof path);
    scratch_run_ok("lm.rl", &o);
    assert_int_equal(dim_entries_of("sequences vocab", -1, path, sizeof path), before + 1);
    assert_int_equal(dim_entries_of("sequences vocab", vocab, path, sizeof path), 1);
    long long counted = file_size("lm.rlw");

    doctor_dim(path, vocab + 3);
    scratch_run_ok("lm.rl", &o);
    assert_int_equal(dim_entries_of("sequences vocab", -1, path, sizeof path), before + 1);
    assert_true(file_size("lm.rlw") > counted); /* the remembered [vocab + 3, 4] table */

    scratch_write("seq.txt", changed);
    scratch_run_ok("lm.rl", &o);
    assert_int_equal(dim_entries_of("sequences vocab", -1, path, sizeof path), before + 2);
    /* counted again: the doctored entry is another corpus's now */
    assert_int_equal(dim_entries_of("sequences vocab", changed_vocab, path, sizeof path), 1);
}

static void test_sequences_vocab_remembered_words(void **state) {
    (void)state;
    /* a b c d e and the unknown */
    check_sequences_vocab_remembered("word", "a b c d a b a\nc a e\n", 6, "a b c d a b a\nc a e f g\n", 8);
}

static void test_sequences_vocab_remembered_chars(void **state) {
    (void)state;
    /* a b c and the newline, and the unknown */
    check_sequences_vocab_remembered("char", "abcabca\n", 5, "abcabca\nxy\n", 7);
}

/* `tags` is remembered under a key of its own. */
static void test_sequences_tags_remembered(void **state) {
    (void)state;
    scratch_write("seq.txt", "a/N b/V c/N d/D a/N b/V\n");
    write_sequences_program("word", true);
    RunOptions o = {.threads = 1, .quiet = true, .steps = 1};
    char path[600] = "";
    int before = dim_entries_of("sequences tags", -1, path, sizeof path);
    scratch_run_ok("lm.rl", &o);
    assert_int_equal(dim_entries_of("sequences tags", -1, path, sizeof path), before + 1);
    assert_int_equal(dim_value(path), 4); /* N V D and the untagged */
}

static int setup(void **state) {
    (void)state;
    if (scratch_enter("objcache") != 0) return -1;
    FILE *f = fopen("points.csv", "w");
    if (!f) return -1;
    fprintf(f, "a,b,c\n");
    for (int i = 0; i < 10; i++) fprintf(f, "%g,%g,%g\n", 0.1 * i, 1.0 - 0.07 * i, 0.3 * (i % 3));
    fclose(f);
    if (!(f = fopen("prog.rl", "w"))) return -1;
    fputs(program, f);
    fclose(f);
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", scratch_dir());
    return setenv("XDG_CACHE_HOME", cache, 1);
}

static int teardown(void **state) {
    (void)state;
    return scratch_leave();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_run_hits_and_trains_the_same),
        cmocka_unit_test(test_changed_program_misses),
        cmocka_unit_test(test_hit_by_inputs_needs_no_ir),
        cmocka_unit_test(test_flipped_byte_is_a_miss),
        cmocka_unit_test(test_truncated_entry_is_a_miss),
        cmocka_unit_test(test_foreign_file_is_a_miss),
        cmocka_unit_test(test_corpus_vocab_remembered),
        cmocka_unit_test(test_sequences_vocab_remembered_words),
        cmocka_unit_test(test_sequences_vocab_remembered_chars),
        cmocka_unit_test(test_sequences_tags_remembered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
