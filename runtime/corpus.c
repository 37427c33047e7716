/* corpus.c — text corpora (rl-language.md §4.1, §8.3): a file or a folder of
 * files split into tokens (words on white space, or bytes with unit = "char"),
 * the vocabulary sorted by falling count then bytes, and a per-process cache so
 * a corpus is read once however many datasets and phases use it (the compiler
 * asking `brown.vocab`, then the trainer). What depends on min_count is derived
 * from the cached text by one pass: the words kept are a prefix of the sorted
 * vocabulary. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* d_type */
#include "data_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ growable arrays */

typedef struct i32_list {
    int32_t *v;
    int64_t n, cap;
} i32_list;

typedef struct i64_list {
    int64_t *v;
    int64_t n, cap;
} i64_list;

static bool grow32(i32_list *l) {
    int64_t nc = l->cap ? l->cap * 2 : 1 << 16;
    int32_t *nv = realloc(l->v, (size_t)nc * sizeof *nv);
    if (!nv) return false;
    l->v = nv;
    l->cap = nc;
    return true;
}

/* once a token: the growth out of line */
static inline bool push32(i32_list *l, int32_t x) {
    if (l->n == l->cap && !grow32(l)) return false;
    l->v[l->n++] = x;
    return true;
}

static bool push64(i64_list *l, int64_t x) {
    if (l->n == l->cap) {
        int64_t nc = l->cap ? l->cap * 2 : 1 << 12;
        int64_t *nv = realloc(l->v, (size_t)nc * sizeof *nv);
        if (!nv) return false;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = x;
    return true;
}

/* ------------------------------------------------------------ the word table */

typedef struct word_table {
    char **words;
    int64_t *counts;
    uint64_t *hashes;          /* of each word, so a probe compares bytes only on a match */
    size_t *lens;
    int64_t n, cap;
    int32_t *slots;            /* open addressing: index + 1, 0 = empty */
    int64_t n_slots;
} word_table;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static bool table_grow(word_table *t) {
    int64_t ns = t->n_slots ? t->n_slots * 2 : 1024;
    int32_t *slots = calloc((size_t)ns, sizeof *slots);
    if (!slots) return false;
    for (int64_t i = 0; i < t->n; i++) {
        uint64_t h = t->hashes[i] & (uint64_t)(ns - 1);
        while (slots[h]) h = (h + 1) & (uint64_t)(ns - 1);
        slots[h] = (int32_t)i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = ns;
    return true;
}

/* Index of the word (added with count 0 if new), or -1 when out of memory. */
static int64_t table_find(word_table *t, const char *w, size_t n) {
    if (2 * (t->n + 1) > t->n_slots && !table_grow(t)) return -1;
    uint64_t full = hash_bytes(w, n), h = full & (uint64_t)(t->n_slots - 1);
    while (t->slots[h]) {
        int64_t i = t->slots[h] - 1;
        if (t->hashes[i] == full && t->lens[i] == n && memcmp(t->words[i], w, n) == 0) return i;
        h = (h + 1) & (uint64_t)(t->n_slots - 1);
    }
    if (t->n == t->cap) {
        int64_t nc = t->cap ? t->cap * 2 : 1024;
        char **nw = realloc(t->words, (size_t)nc * sizeof *nw);
        if (!nw) return -1;
        t->words = nw;
        int64_t *ncnt = realloc(t->counts, (size_t)nc * sizeof *ncnt);
        if (!ncnt) return -1;
        t->counts = ncnt;
        uint64_t *nh = realloc(t->hashes, (size_t)nc * sizeof *nh);
        if (!nh) return -1;
        t->hashes = nh;
        size_t *nl = realloc(t->lens, (size_t)nc * sizeof *nl);
        if (!nl) return -1;
        t->lens = nl;
        t->cap = nc;
    }
    char *copy = malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, w, n);
    copy[n] = 0;
    t->words[t->n] = copy;
    t->counts[t->n] = 0;
    t->hashes[t->n] = full;
    t->lens[t->n] = n;
    t->slots[h] = (int32_t)t->n + 1;
    return t->n++;
}

static void table_free(word_table *t) {
    for (int64_t i = 0; i < t->n; i++) free(t->words[i]);
    free(t->words);
    free(t->counts);
    free(t->hashes);
    free(t->lens);
    free(t->slots);
}

/* ------------------------------------------------------------ tokenizing */

/* What one read of a corpus collects: token ids in first-seen order (words) or
 * byte values (chars), their counts, and where each line starts. */
typedef struct reading {
    bool char_unit, lowercase;
    word_table table;            /* words */
    word_table tag_table;        /* the TAG of word/TAG tokens */
    int64_t byte_counts[256];    /* chars */
    i32_list ids;
    i32_list tags;               /* words: per token its tag in first-seen order, -1 for none */
    i64_list lines;
} reading;

/* A NUL byte separates words as white space does: words are C strings from
 * here on (the vocabulary file, the table's look-up), so none may hold one. */
/* isspace of the C locale (rlc sets no other) spelled out: called once a byte. */
static bool word_break(unsigned char c) { return c <= ' ' && (c == ' ' || (c >= '\t' && c <= '\r') || c == 0); }

/* tolower of the C locale, likewise. */
static unsigned char lower_byte(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 'a' - 'A') : c; }

/* Words split on white space, a word/TAG token keeping `word` (the last '/'
 * starts the tag); a newline starts a line. Chars: every byte is a token, the
 * newline included (it ends its line). */
static bool tokenize(reading *rd, unsigned char *buf, size_t len) {
    size_t i = 0;
    if (rd->char_unit) {
        for (; i < len; i++) {
            unsigned char c = rd->lowercase ? lower_byte(buf[i]) : buf[i];
            rd->byte_counts[c]++;
            if (!push32(&rd->ids, c)) return false;
            if (c == '\n' && !push64(&rd->lines, rd->ids.n)) return false;
        }
        return true;
    }
    while (i < len) {
        if (buf[i] == '\n') {
            if (!push64(&rd->lines, rd->ids.n)) return false;
            i++;
            continue;
        }
        if (word_break(buf[i])) {
            i++;
            continue;
        }
        size_t s = i, last_slash = len;
        for (; i < len && !word_break(buf[i]); i++)
            if (buf[i] == '/') last_slash = i;
        size_t n = i - s;
        char *w = (char *)buf + s;
        char *slash = last_slash < len ? (char *)buf + last_slash : NULL;
        int64_t tag = -1;
        if (slash && slash > w && slash + 1 < w + n) {
            /* the tag as written (lowercase applies to words only) */
            tag = table_find(&rd->tag_table, slash + 1, n - (size_t)(slash + 1 - w));
            if (tag < 0) return false;
            rd->tag_table.counts[tag]++;
        }
        if (!push32(&rd->tags, (int32_t)tag)) return false;
        if (slash && slash > w) n = (size_t)(slash - w);
        if (rd->lowercase)
            for (size_t k = 0; k < n; k++) w[k] = (char)lower_byte((unsigned char)w[k]);
        int64_t id = table_find(&rd->table, w, n);
        if (id < 0 || !push32(&rd->ids, (int32_t)id)) return false;
        rd->table.counts[id]++;
    }
    return true;
}

/* A file ends its last line: the next file starts a new one. */
static bool end_file(reading *rd) {
    if (rd->lines.n && rd->lines.v[rd->lines.n - 1] == rd->ids.n) return true;
    return push64(&rd->lines, rd->ids.n);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of a corpus: the path itself, or every file of the folder (hidden
 * files and sub-folders skipped) in sorted name order. */
static bool list_files(const char *full, char ***names, size_t *count, rt_error *err) {
    *names = NULL;
    *count = 0;
    if (!rt_path_is_dir(full)) {
        *names = malloc(sizeof **names);
        if (*names && ((*names)[0] = strdup(full))) {
            *count = 1;
            return true;
        }
        free(*names);
        *names = NULL;
        rt_fail(err, "%s: out of memory", full);
        return false;
    }
    DIR *d = opendir(full);
    if (!d) {
        rt_fail(err, "%s: cannot open folder: %s", full, strerror(errno));
        return false;
    }
    bool ok = true;
    size_t cap = 0;
    struct dirent *e;
    while (ok && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char fp[RT_PATH_MAX + 256];
        snprintf(fp, sizeof fp, "%s/%s", full, e->d_name);
        /* the entry's type where the file system gives it: a stat less a file (the
         * cache key stats each file; a compile lists a corpus once a dataset) */
        if (e->d_type == DT_DIR) continue;
        if (e->d_type != DT_REG && rt_path_is_dir(fp)) continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(*names, cap * sizeof *nv);
            if (!nv) {
                ok = false;
                break;
            }
            *names = nv;
        }
        (*names)[*count] = strdup(fp);
        ok = (*names)[(*count)++] != NULL;
    }
    closedir(d);
    if (ok) qsort(*names, *count, sizeof **names, cmp_str);
    else rt_fail(err, "%s: out of memory while listing the folder", full);
    return ok;
}

static void free_names(char **names, size_t count) {
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
}

/* The vocabulary sorted by falling count, ties by the word's bytes; ids become
 * ranks in that order. */
static const word_table *sort_table;
/* The order of a word table: falling count, ties by the bytes. */
static int cmp_by_count(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int64_t cx = sort_table->counts[x], cy = sort_table->counts[y];
    if (cx != cy) return cx > cy ? -1 : 1;
    return strcmp(sort_table->words[x], sort_table->words[y]);
}

static int64_t byte_counts_sorted[256];
static int cmp_byte_by_count(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (byte_counts_sorted[x] != byte_counts_sorted[y]) return byte_counts_sorted[x] > byte_counts_sorted[y] ? -1 : 1;
    return x - y;
}

/* A byte as a vocabulary entry: printable ASCII as itself, anything else (and
 * the backslash) as \xNN, so the vocabulary file stays one entry a line. */
static char *byte_word(int c) {
    char *w = malloc(5);
    if (!w) return NULL;
    if (c > 0x20 && c < 0x7f && c != '\\') snprintf(w, 5, "%c", c);
    else snprintf(w, 5, "\\x%02x", c);
    return w;
}

/* Sorts a word table by falling count (ties by bytes), moving its names and
 * counts out into *names and *counts (n entries each); rank[i] is entry i's place.
 * False when out of memory (the outputs are then the caller's to free). */
static bool sort_by_count(word_table *w, char ***names, int64_t **counts, int64_t *rank) {
    int64_t n = w->n;
    int64_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    *names = malloc((size_t)(n ? n : 1) * sizeof **names);
    *counts = malloc((size_t)(n ? n : 1) * sizeof **counts);
    if (!order || !*names || !*counts) {
        free(order);
        return false;
    }
    for (int64_t i = 0; i < n; i++) order[i] = i;
    sort_table = w;
    qsort(order, (size_t)n, sizeof *order, cmp_by_count);
    for (int64_t r = 0; r < n; r++) {
        rank[order[r]] = r;
        (*names)[r] = w->words[order[r]];
        (*counts)[r] = w->counts[order[r]];
        w->words[order[r]] = NULL; /* moved */
    }
    free(order);
    return true;
}

/* Fills t's vocabulary from what was read; *rank (malloc'd) gives each id of
 * rd's table (chars: each byte value) its rank, the id it becomes. */
static bool build_vocab(reading *rd, rt_text *t, int64_t **rank) {
    int64_t n = 0;
    if (rd->char_unit) {
        int order[256];
        for (int c = 0; c < 256; c++) {
            order[c] = c;
            byte_counts_sorted[c] = rd->byte_counts[c];
            n += rd->byte_counts[c] > 0;
        }
        qsort(order, 256, sizeof *order, cmp_byte_by_count);
        *rank = malloc(256 * sizeof **rank);
        t->words = calloc((size_t)(n ? n : 1), sizeof *t->words);
        t->counts = malloc((size_t)(n ? n : 1) * sizeof *t->counts);
        if (!*rank || !t->words || !t->counts) return false;
        for (int c = 0; c < 256; c++) (*rank)[order[c]] = c;
        for (int64_t r = 0; r < n; r++) {
            t->counts[r] = rd->byte_counts[order[r]];
            if (!(t->words[r] = byte_word(order[r]))) return false;
            t->n_words = r + 1;
        }
        return true;
    }
    n = rd->table.n;
    *rank = malloc((size_t)(n ? n : 1) * sizeof **rank);
    if (!*rank || !sort_by_count(&rd->table, &t->words, &t->counts, *rank)) return false;
    t->n_words = n;
    return true;
}

/* The tags of word/TAG tokens, sorted as words are (falling count, then
 * bytes); *rank (malloc'd) gives each id of rd's tag table its rank. A corpus
 * without any tag gets no tags (and *rank stays NULL). */
static bool build_tags(reading *rd, rt_text *t, int64_t **rank) {
    word_table *w = &rd->tag_table;
    if (w->n == 0) return true;
    *rank = malloc((size_t)w->n * sizeof **rank);
    if (!*rank || !sort_by_count(w, &t->tag_names, &t->tag_counts, *rank)) return false;
    t->n_tags = w->n;
    return true;
}

static void text_free(rt_text *t) {
    if (!t) return;
    for (int64_t i = 0; i < t->n_tags; i++) free(t->tag_names[i]);
    free(t->tag_names);
    free(t->tag_counts);
    free(t->tags);
    for (int64_t i = 0; i < t->n_words; i++) free(t->words[i]);
    free(t->words);
    free(t->counts);
    free(t->ids);
    free(t->lines);
    free(t->key);
    free(t);
}

static void reading_free(reading *rd) {
    table_free(&rd->table);
    table_free(&rd->tag_table);
    free(rd->tags.v);
    free(rd->ids.v);
    free(rd->lines.v);
}

/* One part of a corpus read on its own thread: files [first, end) of names into
 * a reading of its own (ids local to its tables, lines from its first token). */
typedef struct read_part {
    char **names;
    size_t first, end;
    reading rd;
    bool ok;
    rt_error err;
    /* the second round: this part's tokens into the whole, as ranks */
    const int64_t *word_rank, *tag_rank;
    int32_t *ids_out, *tags_out;
} read_part;

static bool read_files(read_part *p) {
    for (size_t i = p->first; i < p->end; i++) {
        unsigned char *buf;
        size_t len;
        if (!rt_read_file(p->names[i], &buf, &len, &p->err)) return false;
        bool ok = tokenize(&p->rd, buf, len) && end_file(&p->rd);
        free(buf);
        if (!ok) {
            rt_fail(&p->err, "%s: out of memory while reading the text", p->names[i]);
            return false;
        }
    }
    return true;
}

/* 0: as many parts as cores (a large corpus); otherwise this many. */
static int forced_parts;

void rt_text_set_read_parts(int parts) { forced_parts = parts > 0 ? parts : 0; }

enum { MAX_READ_PARTS = 8, BYTES_PER_PART = 1 << 20 };

/* How many threads read the corpus: one per core of this process, each with at least
 * BYTES_PER_PART of it (a thread costs more than reading a small corpus), at
 * most one a file. sizes[i] is file i's size on disk. */
static size_t read_parts(const int64_t *sizes, size_t count) {
    int64_t total = 0;
    for (size_t i = 0; i < count; i++) total += sizes[i];
    long parts = forced_parts;
    if (!parts) {
        /* under mpirun every process reads the corpus: the cores are shared */
        long cores = sysconf(_SC_NPROCESSORS_ONLN) / rt_mpi_size();
        parts = total / BYTES_PER_PART;
        if (parts > cores) parts = cores;
    }
    if (parts > MAX_READ_PARTS) parts = MAX_READ_PARTS;
    if ((size_t)parts > count) parts = (long)count;
    return parts > 1 ? (size_t)parts : 1;
}

/* Part k's ids and tags in the whole: ids of its own tables looked up in part
 * 0's (counts added), then turned into ranks by the sorted vocabulary. */
typedef struct part_ranks {
    int64_t *word, *tag;
} part_ranks;

/* Adds part k's words and tags to part 0's tables (after those of parts 1..k-1:
 * file order) and gives each id of k's tables its id there. */
static bool merge_tables(reading *to, reading *from, part_ranks *ids) {
    ids->word = malloc((size_t)(from->table.n ? from->table.n : 1) * sizeof *ids->word);
    ids->tag = malloc((size_t)(from->tag_table.n ? from->tag_table.n : 1) * sizeof *ids->tag);
    if (!ids->word || !ids->tag) return false;
    for (int64_t k = 0; k < from->table.n; k++) {
        int64_t id = table_find(&to->table, from->table.words[k], from->table.lens[k]);
        if (id < 0) return false;
        to->table.counts[id] += from->table.counts[k];
        ids->word[k] = id;
    }
    for (int64_t k = 0; k < from->tag_table.n; k++) {
        int64_t id = table_find(&to->tag_table, from->tag_table.words[k], from->tag_table.lens[k]);
        if (id < 0) return false;
        to->tag_table.counts[id] += from->tag_table.counts[k];
        ids->tag[k] = id;
    }
    for (int c = 0; c < 256; c++) to->byte_counts[c] += from->byte_counts[c];
    return true;
}

/* The second round: a part's tokens written into the whole as ranks. */
static void *write_part(void *arg) {
    read_part *p = arg;
    const reading *rd = &p->rd;
    for (int64_t i = 0; i < rd->ids.n; i++) p->ids_out[i] = (int32_t)p->word_rank[rd->ids.v[i]];
    if (p->tags_out)
        for (int64_t i = 0; i < rd->tags.n; i++)
            p->tags_out[i] = rd->tags.v[i] < 0 ? -1 : (int32_t)p->tag_rank[rd->tags.v[i]];
    return NULL;
}

/* Runs fn on every part, part 0 on this thread and the others on threads of
 * their own (on this one too when a thread cannot be started). */
static void on_every_part(read_part *parts, size_t n_parts, void *(*fn)(void *)) {
    pthread_t threads[MAX_READ_PARTS];
    bool started[MAX_READ_PARTS] = {false};
    for (size_t k = 1; k < n_parts; k++) started[k] = pthread_create(&threads[k], NULL, fn, &parts[k]) == 0;
    fn(&parts[0]);
    for (size_t k = 1; k < n_parts; k++) {
        if (started[k]) pthread_join(threads[k], NULL);
        else fn(&parts[k]);
    }
}

/* Splits the files into n_parts runs of consecutive files of about equal size
 * (each at least one file). */
static void split_files(read_part *parts, size_t n_parts, char **names, const int64_t *sizes, size_t count,
                        bool lowercase, bool char_unit) {
    int64_t total = 0, done = 0;
    for (size_t i = 0; i < count; i++) total += sizes[i];
    size_t file = 0;
    for (size_t k = 0; k < n_parts; k++) {
        parts[k] = (read_part){.names = names, .first = file, .rd = {.char_unit = char_unit, .lowercase = lowercase}};
        int64_t goal = (int64_t)((double)total * (double)(k + 1) / (double)n_parts);
        size_t last = count - (n_parts - 1 - k); /* a file left for every later part */
        while (file < last && (file == parts[k].first || done < goal || k + 1 == n_parts)) done += sizes[file++];
        parts[k].end = file;
    }
}

/* The parts' readings joined into t: their tables merged into part 0's, the
 * vocabulary and tags sorted, every part's tokens written as ranks (one thread a
 * part), the line starts. False when out of memory. */
static bool join_parts(read_part *parts, size_t n_parts, rt_text *t) {
    reading *all = &parts[0].rd;
    part_ranks ids[MAX_READ_PARTS] = {{NULL, NULL}};
    int64_t *rank = NULL, *tag_rank = NULL;
    bool ok = true;
    for (size_t k = 1; ok && k < n_parts; k++) ok = merge_tables(all, &parts[k].rd, &ids[k]);
    ok = ok && build_vocab(all, t, &rank) && build_tags(all, t, &tag_rank);
    int64_t n = 0, n_tags = 0;
    for (size_t k = 0; k < n_parts; k++) {
        n += parts[k].rd.ids.n;
        n_tags += parts[k].rd.tags.n;
    }
    /* the whole on huge pages where the kernel gives them: a virtual machine's
     * page faults (a hypervisor trip a 4 KiB page) cost more than writing it */
    t->ids = ok ? rt_alloc_big((size_t)n * sizeof *t->ids, false) : NULL;
    t->tags = ok && tag_rank ? rt_alloc_big((size_t)n_tags * sizeof *t->tags, false) : NULL;
    ok = ok && t->ids && (!tag_rank || t->tags);
    if (ok) t->n = n;
    /* a part's ranks: its ids' ids in part 0's tables, ranked (chars: byte values) */
    for (size_t k = 1; ok && k < n_parts; k++) {
        if (!all->char_unit)
            for (int64_t j = 0; j < parts[k].rd.table.n; j++) ids[k].word[j] = rank[ids[k].word[j]];
        if (tag_rank)
            for (int64_t j = 0; j < parts[k].rd.tag_table.n; j++) ids[k].tag[j] = tag_rank[ids[k].tag[j]];
    }
    i64_list starts = {0};
    if (ok) {
        int64_t at = 0, tags_at = 0;
        for (size_t k = 0; k < n_parts; k++) {
            read_part *p = &parts[k];
            p->word_rank = k == 0 || all->char_unit ? rank : ids[k].word;
            p->tag_rank = k == 0 ? tag_rank : ids[k].tag;
            p->ids_out = t->ids + at;
            p->tags_out = t->tags ? t->tags + tags_at : NULL;
            /* lines: starts of every line, then the end; a part's first start
             * can repeat the previous part's end, kept once */
            ok = ok && (k > 0 || push64(&starts, 0));
            for (int64_t i = 0; ok && i < p->rd.lines.n; i++)
                if (at + p->rd.lines.v[i] > starts.v[starts.n - 1]) ok = push64(&starts, at + p->rd.lines.v[i]);
            at += p->rd.ids.n;
            tags_at += p->rd.tags.n;
        }
        ok = ok && (starts.v[starts.n - 1] == n || push64(&starts, n));
    }
    if (ok) on_every_part(parts, n_parts, write_part);
    t->lines = starts.v;
    t->n_lines = starts.n ? starts.n - 1 : 0;
    for (size_t k = 0; k < n_parts; k++) {
        free(ids[k].word);
        free(ids[k].tag);
    }
    free(rank);
    free(tag_rank);
    return ok;
}

static void *read_part_thread(void *arg) {
    read_part *p = arg;
    p->ok = read_files(p);
    return NULL;
}

/* Reads every file of the corpus once: consecutive runs of files of about equal
 * size on threads of their own, joined in file order. */
static rt_text *read_text(const char *full, char **names, size_t count, bool lowercase,
                          bool char_unit, rt_error *err) {
    int64_t *sizes = malloc((count ? count : 1) * sizeof *sizes);
    rt_text *t = calloc(1, sizeof *t);
    if (!sizes || !t) {
        free(sizes);
        free(t);
        rt_fail(err, "%s: out of memory", full);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        struct stat st;
        sizes[i] = stat(names[i], &st) == 0 ? (int64_t)st.st_size : 0;
    }
    size_t n_parts = read_parts(sizes, count);
    read_part parts[MAX_READ_PARTS];
    split_files(parts, n_parts, names, sizes, count, lowercase, char_unit);
    free(sizes);
    on_every_part(parts, n_parts, read_part_thread);
    bool ok = true;
    for (size_t k = 0; ok && k < n_parts; k++)
        if (!parts[k].ok) {
            *err = parts[k].err; /* the first file that failed */
            ok = false;
        }
    if (ok && !join_parts(parts, n_parts, t)) {
        rt_fail(err, "%s: out of memory while building the vocabulary", full);
        ok = false;
    }
    for (size_t k = 0; k < n_parts; k++) reading_free(&parts[k].rd);
    if (!ok) {
        text_free(t);
        return NULL;
    }
    return t;
}

/* ------------------------------------------------------------ the cache */

/* Loaded corpora, newest first; kept for the life of the process (a corpus is
 * a few bytes per token: Brown's 1.16 M words take about 5 MB). The key is the
 * resolved path, the options, and each file's name, size, inode, modification and
 * status-change times, so a file changed on disk is read again. */
static rt_text *cache;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t reads;

static char *cache_key(const char *full, char **names, size_t count, bool lowercase, bool char_unit) {
    size_t cap = strlen(full) + 32 + count * (RT_PATH_MAX / 16), used = 0;
    char *key = malloc(cap);
    if (!key) return NULL;
    used += (size_t)snprintf(key, cap, "%s|%d%d", full, lowercase, char_unit);
    for (size_t i = 0; i < count; i++) {
        struct stat st;
        if (stat(names[i], &st) != 0) memset(&st, 0, sizeof st);
        size_t need = strlen(names[i]) + 64;
        if (used + need >= cap) {
            cap = 2 * (used + need);
            char *nk = realloc(key, cap);
            if (!nk) {
                free(key);
                return NULL;
            }
            key = nk;
        }
        used += (size_t)snprintf(key + used, cap - used, "|%s:%lld:%lld:%lld.%09ld:%lld.%09ld", names[i],
                                 (long long)st.st_size, (long long)st.st_ino, (long long)st.st_mtim.tv_sec,
                                 (long)st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec, (long)st.st_ctim.tv_nsec);
    }
    return key;
}

char *rt_text_key(const char *base_dir, const char *path, bool lowercase, bool char_unit, rt_error *err) {
    char full[RT_PATH_MAX];
    if (!rt_resolve_data_path(base_dir, path, full, sizeof full, err)) return NULL;
    char **names;
    size_t count;
    if (!list_files(full, &names, &count, err)) return NULL;
    char *key = cache_key(full, names, count, lowercase, char_unit);
    if (!key) rt_fail(err, "%s: out of memory", full);
    free_names(names, count);
    return key;
}

const rt_text *rt_text_load(const char *base_dir, const char *path, bool lowercase, bool char_unit,
                            rt_error *err) {
    char full[RT_PATH_MAX];
    if (!rt_resolve_data_path(base_dir, path, full, sizeof full, err)) return NULL;
    char **names;
    size_t count;
    if (!list_files(full, &names, &count, err)) return NULL;
    char *key = cache_key(full, names, count, lowercase, char_unit);
    if (!key) {
        free_names(names, count);
        rt_fail(err, "%s: out of memory", full);
        return NULL;
    }
    pthread_mutex_lock(&cache_lock);
    rt_text *t = cache;
    while (t && strcmp(t->key, key) != 0) t = t->next;
    if (!t) {
        t = read_text(full, names, count, lowercase, char_unit, err);
        if (t) {
            snprintf(t->path, sizeof t->path, "%s", full);
            t->key = key;
            key = NULL;
            t->next = cache;
            cache = t;
            reads++;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    free(key);
    free_names(names, count);
    return t;
}

int64_t rt_text_reads(void) {
    pthread_mutex_lock(&cache_lock);
    int64_t n = reads;
    pthread_mutex_unlock(&cache_lock);
    return n;
}

int64_t rt_text_kept(const rt_text *t, int64_t min_count) {
    int64_t k = 0;
    while (k < t->n_words && t->counts[k] >= min_count) k++;
    return k;
}

/* ------------------------------------------------------------ views */

void rt_corpus_free(rt_corpus *c) {
    free(c->ids);
    free(c->sent);
    memset(c, 0, sizeof *c);
}

bool rt_corpus_load(const char *base_dir, const char *path, bool lowercase, bool char_unit,
                    int64_t min_count, rt_corpus *c, rt_error *err) {
    memset(c, 0, sizeof *c);
    const rt_text *t = rt_text_load(base_dir, path, lowercase, char_unit, err);
    if (!t) return false;
    int64_t kept = rt_text_kept(t, min_count);
    c->ids = malloc((size_t)(t->n ? t->n : 1) * sizeof *c->ids);
    c->sent = malloc((size_t)(t->n_lines + 1) * sizeof *c->sent);
    if (!c->ids || !c->sent) {
        rt_corpus_free(c);
        rt_fail(err, "%s: out of memory", t->path);
        return false;
    }
    /* Words under min_count vanish from the stream, as in word2vec; lines left
     * empty are not sentences. */
    for (int64_t s = 0; s < t->n_lines; s++) {
        int64_t start = c->n;
        for (int64_t p = t->lines[s]; p < t->lines[s + 1]; p++)
            if (t->ids[p] < kept) c->ids[c->n++] = t->ids[p];
        if (c->n > start) c->sent[c->n_sent++] = start;
    }
    c->sent[c->n_sent] = c->n;
    c->words = (const char *const *)t->words;
    c->counts = t->counts;
    c->n_words = kept;
    return true;
}

bool rt_text_tokens(const rt_dataset_spec *ds, const char *path, rt_raw *out, rt_error *err) {
    const rt_text *t = rt_text_load(ds->base_dir, path, ds->lowercase, ds->char_unit, err);
    if (!t) return false;
    snprintf(out->path, sizeof out->path, "%s", t->path);
    int64_t kept = rt_text_kept(t, ds->min_count);
    int32_t *ids = malloc((size_t)(t->n ? t->n : 1) * sizeof *ids);
    if (!ids) {
        rt_fail(err, "%s: out of memory", t->path);
        return false;
    }
    for (int64_t p = 0; p < t->n; p++) ids[p] = t->ids[p] < kept ? t->ids[p] + 1 : 0;
    out->type = RAW_I32;
    out->data = ids;
    out->n = t->n;
    out->per = 1;
    out->vocab = kept + 1;
    return true;
}

/* ------------------------------------------------------------ encoding a text */

/* The id of one token in a dataset's vocabulary: 1 + its rank when the rank is
 * below kept, 0 otherwise (the ranks of kept words are 0..kept-1). */
static int32_t token_id(const rt_text *t, int64_t kept, const char *w, size_t n) {
    for (int64_t r = 0; r < kept && r < t->n_words; r++)
        if (strncmp(t->words[r], w, n) == 0 && t->words[r][n] == 0) return (int32_t)(r + 1);
    return 0;
}

int64_t rt_text_encode(const rt_text *t, int64_t kept, bool lowercase, bool char_unit, const char *s, int32_t *ids,
                       int64_t *starts, int64_t *lens, int64_t cap) {
    int64_t n = 0;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t at = i, tn;
        char token[RT_PATH_MAX];
        if (char_unit) {
            int c = lowercase ? tolower((unsigned char)s[i]) : (unsigned char)s[i];
            char *w = byte_word(c);
            if (!w) return -1;
            snprintf(token, sizeof token, "%s", w);
            free(w);
            tn = strlen(token);
            i++;
        } else {
            if (word_break((unsigned char)s[i])) {
                i++;
                continue;
            }
            while (i < len && !word_break((unsigned char)s[i])) i++;
            tn = i - at < sizeof token - 1 ? i - at : sizeof token - 1;
            memcpy(token, s + at, tn);
            char *slash = NULL;
            for (char *q = memchr(token, '/', tn); q; q = memchr(q + 1, '/', tn - (size_t)(q + 1 - token))) slash = q;
            if (slash && slash > token) tn = (size_t)(slash - token);
            if (lowercase)
                for (size_t k = 0; k < tn; k++) token[k] = (char)tolower((unsigned char)token[k]);
        }
        if (n < cap) {
            ids[n] = token_id(t, kept, token, tn);
            if (starts) starts[n] = (int64_t)at;
            if (lens) lens[n] = (int64_t)(i - at);
        }
        n++;
    }
    return n;
}
