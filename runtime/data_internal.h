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

/* A tokenised text: word ids (words under min_count dropped), sentences as
 * start offsets (a line is a sentence; windows never cross one), and the
 * vocabulary sorted by count (descending) then word. */
typedef struct rt_corpus {
    int32_t *ids;
    int64_t n;
    int64_t *sent;            /* n_sent + 1 offsets */
    int64_t n_sent;
    char **words;
    int64_t *counts;
    int64_t n_words;
} rt_corpus;

double rt_raw_get(const rt_raw *r, int64_t i);
bool rt_raw_load(const rt_field_spec *f, const char *base_dir, bool lowercase, int64_t min_count,
                 rt_raw *out, rt_corpus *corpus, rt_error *err);
void rt_raw_free(rt_raw *r);
bool rt_corpus_load(const char *base_dir, const char *path, bool lowercase, int64_t min_count,
                    rt_corpus *c, rt_error *err);
void rt_corpus_free(rt_corpus *c);

#endif
