/* data_internal.h — what the source readers (data.c) hand to the dataset (dataset.c).
 * Not part of the ABI. */
#ifndef RT_DATA_INTERNAL_H
#define RT_DATA_INTERNAL_H

#include "rlrt.h"

#define RT_PATH_MAX 4096

typedef enum { RAW_U8, RAW_I8, RAW_I16, RAW_I32, RAW_F32, RAW_F64 } raw_type;

/* One source's values in native byte order: n examples of `per` values. */
typedef struct rt_raw {
    raw_type type;
    void *data;
    int64_t n, per;
    int64_t vocab;            /* tokens and text: largest id + 1; else 0 */
    char path[RT_PATH_MAX];   /* the resolved file, for messages */
    int64_t *lines;           /* csv: the line of each example (1-based); NULL otherwise */
    bool line_per_example;    /* tokens: example k is line k + 1 */
} rt_raw;

/* A corpus as read (corpus.c): every token's id in the full vocabulary, which
 * is sorted by falling count, ties by the word's bytes; lines as token offsets
 * (a newline starts a line; so does each file). Shared and immutable: loaded
 * corpora are cached for the life of the process. */
typedef struct rt_text {
    int32_t *ids;
    int64_t n;
    int64_t *lines;           /* n_lines + 1 offsets */
    int64_t n_lines;
    char **words;             /* unit "char": a byte as itself, or \xNN when not printable */
    char *word_bytes;         /* the words' bytes, one block (words[i] points into it) */
    int64_t *counts;
    int64_t n_words;
    int32_t *tags;            /* words: per token the rank of its TAG (word/TAG), -1 for none;
                                 NULL when no token has a tag (and for unit "char") */
    char **tag_names;         /* the tags by falling count, ties by bytes */
    char *tag_bytes;          /* the tag names' bytes, one block */
    int64_t *tag_counts;
    int64_t n_tags;
    char path[RT_PATH_MAX];   /* the resolved file or folder, for messages */
    char *key;                /* the cache's: path, options, files' sizes and times */
    struct rt_text *next;
} rt_text;

/* The corpus at path, read on first use and cached (a file changed on disk since
 * is read again). NULL with err set when it cannot be read. */
const rt_text *rt_text_load(const char *base_dir, const char *path, bool lowercase, bool char_unit,
                            rt_error *err);
/* The key rt_text_load caches that corpus under (malloc'd): its resolved path, the
 * options, and each file's name, size, inode and times. NULL with err set when the
 * corpus cannot be found. */
char *rt_text_key(const char *base_dir, const char *path, bool lowercase, bool char_unit, rt_error *err);
/* Words with count >= min_count: ids [0, kept) of the full vocabulary. */
int64_t rt_text_kept(const rt_text *t, int64_t min_count);
/* A text() field: one example per token of the dataset's corpus (text_path
 * options: lowercase, char_unit, min_count), its id: 0 for a word under
 * min_count, 1.. the kept words in vocabulary order; vocab = kept + 1. */
bool rt_text_tokens(const rt_dataset_spec *ds, const char *path, rt_raw *out, rt_error *err);
/* s split as the corpus was read (words on white space, word/TAG keeping word,
 * lowercased when asked; or every byte): per token its id for a dataset keeping
 * `kept` words (1 + rank, 0 unknown) and its start and length in s (when
 * starts/lens are not NULL). Returns the token count (at most cap written). */
int64_t rt_text_encode(const rt_text *t, int64_t kept, bool lowercase, bool char_unit, const char *s, int32_t *ids,
                       int64_t *starts, int64_t *lens, int64_t cap);
/* How many times a corpus was read from disk in this process (cache misses). */
int64_t rt_text_reads(void);
/* How many threads read a corpus from now on (each a run of consecutive files,
 * joined in file order; the result is the same for any count): 0 restores the
 * default, one per core while each gets 1 MiB of text. For tests. */
void rt_text_set_read_parts(int parts);
/* Keeps only the bits of mask of every word's hash from now on (all ones, the
 * default, keeps all): with few bits left, words collide in the table, so a
 * look-up passes many other words and their bytes decide. The result is the same
 * for any mask. For tests. */
void rt_text_set_hash_mask(uint64_t mask);

/* A tokenised text as skipgram samples it: the words under min_count dropped
 * from the stream (as word2vec does), ids [0, n_words) in vocabulary order, and
 * sentences as start offsets (a line is a sentence; windows never cross one).
 * ids and sent are owned; words and counts belong to the cached rt_text. */
typedef struct rt_corpus {
    int32_t *ids;
    int64_t n;
    int64_t *sent;            /* n_sent + 1 offsets */
    int64_t n_sent;
    const char *const *words;
    const int64_t *counts;
    int64_t n_words;
} rt_corpus;

double rt_raw_get(const rt_raw *r, int64_t i);
/* One field's source. A text() field is one example per token: its id, 0 for a
 * word under the dataset's min_count, 1.. the kept words in vocabulary order. */
bool rt_raw_load(const rt_field_spec *f, const rt_dataset_spec *ds, rt_raw *out, rt_error *err);
void rt_raw_free(rt_raw *r);
bool rt_corpus_load(const char *base_dir, const char *path, bool lowercase, bool char_unit,
                    int64_t min_count, rt_corpus *c, rt_error *err);
void rt_corpus_free(rt_corpus *c);

/* data.c's file helpers, shared with corpus.c. */
bool rt_read_file(const char *path, unsigned char **data, size_t *len, rt_error *err);
bool rt_path_is_dir(const char *path);

#endif
