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

/* A word of the table: its bytes lie at `at` in the table's arena. */
typedef struct word_entry {
    int64_t count;
    size_t at, len;
} word_entry;

/* A slot of the table (empty while index is 0). `key` is a word's bytes when it has at
 * most 8 (word_key: its first 8 otherwise); `check` the high 24 bits of its
 * hash and its length (255 for 255 or more). A word of at most 8 bytes, most of
 * them, is found or told apart in the slot alone: a key and a length identify
 * it. */
typedef struct word_slot {
    uint64_t key;
    uint32_t check;
    uint32_t index;            /* of the entry, + 1 */
} word_slot;

/* Every look-up of a corpus's tokens goes through here (two a word/TAG token),
 * so a look-up reads few cache lines: the slots alone for a short word (see
 * word_slot), and the words' bytes lie in one arena in first-seen order
 * (frequent words early and close together) rather than in a malloc each.
 * Counts are added after a part is read (count_tokens), not once a look-up. */
typedef struct word_table {
    word_entry *entries;
    int64_t n, cap;
    char *bytes;               /* every word NUL-ended, at entries[i].at */
    size_t used, bytes_cap;
    word_slot *slots;          /* open addressing, linear probing */
    int64_t n_slots;
} word_table;

static uint64_t load64(const unsigned char *p) {
    uint64_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

static uint32_t load32(const unsigned char *p) {
    uint32_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* Up to 8 bytes of a word (n > 0) in one number, read in at most two loads
 * that never pass its end: for a given n the bytes it is made of tell every
 * word of n <= 8 bytes apart (4..8 bytes: two loads of 4 that overlap and cover
 * all; 1..3: the first, middle and last). Past 8 bytes: the first 8. */
static uint64_t word_key(const unsigned char *p, size_t n) {
    if (n >= 8) return load64(p);
    if (n >= 4) return load32(p) | (uint64_t)load32(p + n - 4) << 32;
    return p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
}

static uint64_t hash_mask = ~0ull;

void rt_text_set_hash_mask(uint64_t mask) { hash_mask = mask; }

static uint64_t mix(uint64_t h, uint64_t x) { return ((h << 5 | h >> 59) ^ x) * 0x9e3779b97f4a7c15ull; }

/* A hash of a word (its key, and 8 bytes at a time past 8 bytes, where a byte
 * at a time cost a multiply a byte); the last steps spread every bit over the
 * low ones, which pick the slot, and the high ones, which the slot keeps. */
static uint64_t hash_word(const unsigned char *p, size_t n, uint64_t key) {
    uint64_t h = mix(n, key);
    for (size_t i = 8; i < n; i += 8) h = mix(h, load64(p + (i + 8 <= n ? i : n - 8)));
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return (h ^ h >> 32) & hash_mask;
}

static uint32_t slot_check(uint64_t hash, size_t n) {
    return (uint32_t)(hash >> 40) << 8 | (n < 255 ? (uint32_t)n : 255);
}

/* Whether a word's n bytes are b's (a call of memcmp costs more than comparing
 * the few bytes past a key). */
static bool same_bytes(const char *a, const char *b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        if (load64((const unsigned char *)a + i) != load64((const unsigned char *)b + i)) return false;
    for (; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static bool table_grow(word_table *t) {
    int64_t ns = t->n_slots ? t->n_slots * 2 : 1024;
    word_slot *slots = calloc((size_t)ns, sizeof *slots);
    if (!slots) return false;
    for (int64_t i = 0; i < t->n_slots; i++) {
        if (!t->slots[i].index) continue;
        const word_entry *e = &t->entries[t->slots[i].index - 1];
        const unsigned char *p = (const unsigned char *)t->bytes + e->at;
        uint64_t h = hash_word(p, e->len, t->slots[i].key) & (uint64_t)(ns - 1);
        while (slots[h].index) h = (h + 1) & (uint64_t)(ns - 1);
        slots[h] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = ns;
    return true;
}

/* Room for one more entry and n + 1 more bytes (the arena doubles). */
static bool table_reserve(word_table *t, size_t n) {
    if (t->n == t->cap) {
        int64_t nc = t->cap ? t->cap * 2 : 1024;
        word_entry *ne = realloc(t->entries, (size_t)nc * sizeof *ne);
        if (!ne) return false;
        t->entries = ne;
        t->cap = nc;
    }
    if (t->used + n + 1 > t->bytes_cap) {
        size_t nc = t->bytes_cap ? t->bytes_cap * 2 : 1 << 14;
        while (nc < t->used + n + 1) nc *= 2;
        char *nb = realloc(t->bytes, nc);
        if (!nb) return false;
        t->bytes = nb;
        t->bytes_cap = nc;
    }
    return true;
}

/* The index of the word w of n > 0 bytes (added with count 0 if new), or -1
 * when out of memory. An index fits a slot's 32 bits as a token's id fits an
 * int32_t. */
static int64_t table_find(word_table *t, const char *w, size_t n) {
    if (2 * (t->n + 1) > t->n_slots && !table_grow(t)) return -1;
    const unsigned char *p = (const unsigned char *)w;
    uint64_t key = word_key(p, n), hash = hash_word(p, n, key), h = hash & (uint64_t)(t->n_slots - 1);
    uint32_t check = slot_check(hash, n);
    for (; t->slots[h].index; h = (h + 1) & (uint64_t)(t->n_slots - 1)) {
        const word_slot *s = &t->slots[h];
        if (s->key != key || s->check != check) continue;
        if (n <= 8) return s->index - 1;
        const word_entry *e = &t->entries[s->index - 1];
        if (e->len == n && same_bytes(t->bytes + e->at + 8, w + 8, n - 8)) return s->index - 1;
    }
    if (t->n >= INT32_MAX || !table_reserve(t, n)) return -1;
    memcpy(t->bytes + t->used, w, n);
    t->bytes[t->used + n] = 0;
    t->entries[t->n] = (word_entry){.count = 0, .at = t->used, .len = n};
    t->used += n + 1;
    t->slots[h] = (word_slot){.key = key, .check = check, .index = (uint32_t)t->n + 1};
    return t->n++;
}

static const char *table_word(const word_table *t, int64_t i) { return t->bytes + t->entries[i].at; }

static void table_free(word_table *t) {
    free(t->entries);
    free(t->bytes);
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
        }
        if (!push32(&rd->tags, (int32_t)tag)) return false;
        if (slash && slash > w) n = (size_t)(slash - w);
        if (rd->lowercase)
            for (size_t k = 0; k < n; k++) w[k] = (char)lower_byte((unsigned char)w[k]);
        int64_t id = table_find(&rd->table, w, n);
        if (id < 0 || !push32(&rd->ids, (int32_t)id)) return false;
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

/* A word in sorting: its count and first 8 bytes copied beside it, so most
 * comparisons read the two items alone (Brown's 56 k words have 553 distinct
 * counts, so a comparison is mostly a tie of count, told apart by the first
 * bytes rather than by strcmp through two pointers). */
typedef struct ranked_word {
    int64_t count;
    uint64_t first;            /* the first 8 bytes, big-endian, 0 past the end: compares as strcmp */
    const char *word;
    int64_t index;
} ranked_word;

static uint64_t first_bytes(const char *w, size_t n) {
    uint64_t x = 0;
    for (size_t k = 0; k < 8; k++) x = x << 8 | (k < n ? (unsigned char)w[k] : 0);
    return x;
}

/* The order of a vocabulary: falling count, ties by the word's bytes. */
static int cmp_by_count(const void *a, const void *b) {
    const ranked_word *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return strcmp(x->word, y->word);
}

static int64_t byte_counts_sorted[256];
static int cmp_byte_by_count(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (byte_counts_sorted[x] != byte_counts_sorted[y]) return byte_counts_sorted[x] > byte_counts_sorted[y] ? -1 : 1;
    return x - y;
}

/* A byte as a vocabulary entry, written into w: printable ASCII as itself,
 * anything else (and the backslash) as \xNN, so the vocabulary file stays one
 * entry a line. */
enum { BYTE_WORD_SIZE = 5 };
static void byte_word(int c, char w[BYTE_WORD_SIZE]) {
    if (c > 0x20 && c < 0x7f && c != '\\') snprintf(w, BYTE_WORD_SIZE, "%c", c);
    else snprintf(w, BYTE_WORD_SIZE, "\\x%02x", c);
}

/* Sorts a word table by falling count (ties by bytes) into *names and *counts
 * (n entries each; the names point into the table's arena, which moves to
 * *bytes); rank[i] is entry i's place. False when out of memory (the outputs
 * are then the caller's to free). */
static bool sort_by_count(word_table *w, char ***names, int64_t **counts, char **bytes, int64_t *rank) {
    int64_t n = w->n;
    ranked_word *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    *names = malloc((size_t)(n ? n : 1) * sizeof **names);
    *counts = malloc((size_t)(n ? n : 1) * sizeof **counts);
    if (!order || !*names || !*counts) {
        free(order);
        return false;
    }
    for (int64_t i = 0; i < n; i++) {
        const word_entry *e = &w->entries[i];
        order[i] = (ranked_word){e->count, first_bytes(table_word(w, i), e->len), table_word(w, i), i};
    }
    qsort(order, (size_t)n, sizeof *order, cmp_by_count);
    for (int64_t r = 0; r < n; r++) {
        rank[order[r].index] = r;
        (*names)[r] = w->bytes + w->entries[order[r].index].at;
        (*counts)[r] = order[r].count;
    }
    *bytes = w->bytes;
    w->bytes = NULL; /* moved */
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
        t->words = malloc((size_t)(n ? n : 1) * sizeof *t->words);
        t->counts = malloc((size_t)(n ? n : 1) * sizeof *t->counts);
        t->word_bytes = malloc((size_t)(n ? n : 1) * BYTE_WORD_SIZE);
        if (!*rank || !t->words || !t->counts || !t->word_bytes) return false;
        for (int c = 0; c < 256; c++) (*rank)[order[c]] = c;
        for (int64_t r = 0; r < n; r++) {
            t->counts[r] = rd->byte_counts[order[r]];
            t->words[r] = t->word_bytes + r * BYTE_WORD_SIZE;
            byte_word(order[r], t->words[r]);
        }
        t->n_words = n;
        return true;
    }
    n = rd->table.n;
    *rank = malloc((size_t)(n ? n : 1) * sizeof **rank);
    if (!*rank || !sort_by_count(&rd->table, &t->words, &t->counts, &t->word_bytes, *rank)) return false;
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
    if (!*rank || !sort_by_count(w, &t->tag_names, &t->tag_counts, &t->tag_bytes, *rank)) return false;
    t->n_tags = w->n;
    return true;
}

static void text_free(rt_text *t) {
    if (!t) return;
    free(t->tag_names);
    free(t->tag_bytes);
    free(t->tag_counts);
    free(t->tags);
    free(t->words);
    free(t->word_bytes);
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
    int64_t most;              /* tokens its files can hold by their sizes on disk; part
                                  0's the whole corpus's, as its lists become the whole's */
    reading rd;
    bool ok;
    rt_error err;
    /* the second round: this part's tokens into the whole, as ranks */
    const int64_t *word_rank, *tag_rank;
    int32_t *ids_out, *tags_out;
} read_part;

/* The counts of a part's words and tags, from its tokens: a pass over them
 * once read costs less than a count added at each look-up (a write to one more
 * cache line while the look-up waits on its own). */
static void count_tokens(reading *rd) {
    if (rd->char_unit) return; /* counted as read */
    for (int64_t i = 0; i < rd->ids.n; i++) rd->table.entries[rd->ids.v[i]].count++;
    for (int64_t i = 0; i < rd->tags.n; i++)
        if (rd->tags.v[i] >= 0) rd->tag_table.entries[rd->tags.v[i]].count++;
}

/* A token list sized once to hold up to n tokens, on huge pages where the
 * kernel gives them: grown by doubling, a list of a few MB took a page fault
 * every 4 KiB (a trip to the hypervisor in a virtual machine), which cost more
 * than reading the text. Pages past the tokens written are never touched. Left
 * empty when that much cannot be had (the list then grows as before). */
static void reserve32(i32_list *l, int64_t n) {
    if ((l->v = rt_alloc_big((size_t)(n ? n : 1) * sizeof *l->v, false))) l->cap = n;
}

/* Room for n tokens in l, its tokens kept. */
static bool fit32(i32_list *l, int64_t n) {
    if (l->v && l->cap >= n) return true;
    int32_t *nv = realloc(l->v, (size_t)(n ? n : 1) * sizeof *nv);
    if (!nv) return false;
    l->v = nv;
    l->cap = n;
    return true;
}

/* At most a token a byte (chars); a word and the white space after it take two. */
static int64_t most_tokens(int64_t bytes, size_t files, bool char_unit) {
    return char_unit ? bytes : bytes / 2 + (int64_t)files;
}

static bool read_files(read_part *p) {
    /* the lists still grow should a file grow since its size was taken */
    reserve32(&p->rd.ids, p->most);
    if (!p->rd.char_unit) reserve32(&p->rd.tags, p->most);
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
    count_tokens(&p->rd);
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
        const word_entry *e = &from->table.entries[k];
        if ((ids->word[k] = table_find(&to->table, table_word(&from->table, k), e->len)) < 0) return false;
        to->table.entries[ids->word[k]].count += e->count;
    }
    for (int64_t k = 0; k < from->tag_table.n; k++) {
        const word_entry *e = &from->tag_table.entries[k];
        if ((ids->tag[k] = table_find(&to->tag_table, table_word(&from->tag_table, k), e->len)) < 0) return false;
        to->tag_table.entries[ids->tag[k]].count += e->count;
    }
    for (int c = 0; c < 256; c++) to->byte_counts[c] += from->byte_counts[c];
    return true;
}

/* The second round: a part's tokens written into the whole as ranks (part 0's in
 * place: its lists are the whole's). */
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
        int64_t goal = (int64_t)((double)total * (double)(k + 1) / (double)n_parts), from = done;
        size_t last = count - (n_parts - 1 - k); /* a file left for every later part */
        while (file < last && (file == parts[k].first || done < goal || k + 1 == n_parts)) done += sizes[file++];
        parts[k].end = file;
        parts[k].most = most_tokens(done - from, file - parts[k].first, char_unit);
    }
    parts[0].most = most_tokens(total, count, char_unit);
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
    /* the whole is written over part 0's lists, sized for it (split_files): memory
     * touched for the first time costs a page fault a page (a hypervisor trip in a
     * virtual machine), more than writing it; part 0's tokens become ranks in place */
    t->ids = ok && fit32(&all->ids, n) ? all->ids.v : NULL;
    t->tags = ok && tag_rank && fit32(&all->tags, n_tags) ? all->tags.v : NULL;
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
    if (t->ids) all->ids.v = NULL; /* moved */
    if (t->tags) all->tags.v = NULL;
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
            byte_word(c, token);
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
