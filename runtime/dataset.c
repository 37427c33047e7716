/* dataset.c — a dataset assembled from its sources: fields checked against each
 * other, scalar ops applied once, per-epoch order (shuffle, limit), batches, and
 * the skip-gram sampler. Every random choice is a Philox draw addressed by
 * (seed, epoch, position), so an epoch is the same whatever runs it. */
#define _POSIX_C_SOURCE 200809L
#include "data_internal.h"
#include "fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ds_field {
    char name[64];
    bool is_i32;
    int64_t numel;
    void *data;               /* n examples x numel, f32 or i32 */
    char *path;               /* the source file, for messages (NULL: generated) */
    int64_t *lines;           /* csv: the line of each example; NULL otherwise */
    bool line_per_example;    /* tokens: example k is line k + 1 */
} ds_field;

struct rt_dataset {
    char name[64];
    int n_fields;
    ds_field *fields;
    int64_t n;                /* examples loaded (not skipgram) */
    int64_t vocab;            /* the `vocab` property, 0 when none */
    rt_corpus corpus;         /* skipgram: words and ids */
    const rt_text *text;      /* text fields and sequences: the cached corpus */
    bool lowercase, char_unit; /* ... and how it was split (rt_dataset_encode splits alike) */
    int64_t n_kept;           /* ... its words at or over min_count: ids 1..n_kept, 0 unknown */

    /* sequences: example i is the window of ids [i*stride, i*stride + length) */
    bool sequences;
    int64_t seq_length, seq_stride;
    int64_t n_tags;           /* with tags: field 1 is the window's tag ids, 1..n_tags, 0 none */
    int64_t seq_first;        /* the first token of the part the windows come from */

    /* skipgram */
    bool skipgram;
    int64_t window, negatives;
    double subsample;
    uint64_t *alias_keep;     /* the unigram^0.75 table as Walker/Vose alias slots: */
    int32_t *alias;           /* slot i keeps i below alias_keep[i] / 2^32, else alias[i] */
    int32_t *pairs;           /* this epoch: (center, context) */
    int64_t n_pairs, pairs_cap;
    int64_t *kept;            /* scratch: kept positions of one sentence */

    /* the current epoch */
    uint64_t seed;
    int64_t epoch;
    int64_t *order;
    int64_t n_epoch, order_cap;
};

/* Stream names: each random use of the dataset draws from its own stream. */
#define STREAM_SHUFFLE 0x5348554646ull /* "SHUFF" */
#define STREAM_KEEP 0x4b454550ull      /* "KEEP" */
#define STREAM_NEG 0x4e4547ull         /* "NEG" */

static void fmt_dims(const rt_field_spec *f, char *buf, size_t cap) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < f->rank && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? ", " : "", (long long)f->dims[d]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

static double apply_ops(const rt_field_spec *f, double x) {
    for (int k = 0; k < f->n_ops; k++) {
        const rt_scalar_op *o = &f->ops[k];
        double a = o->value_first ? o->value : x, b = o->value_first ? x : o->value;
        switch (o->op) {
        case '+': x = a + b; break;
        case '-': x = a - b; break;
        case '*': x = a * b; break;
        case '/': x = a / b; break;
        default: break;
        }
    }
    return x;
}

/* Writes where example ex of a field came from: "FILE:LINE" or "FILE: example N". */
static void where(const ds_field *fl, int64_t ex, char *buf, size_t cap) {
    if (fl->lines) snprintf(buf, cap, "%s:%lld", fl->path, (long long)fl->lines[ex]);
    else if (fl->line_per_example) snprintf(buf, cap, "%s:%lld", fl->path, (long long)ex + 1);
    else snprintf(buf, cap, "%s: example %lld (counted from 0)", fl->path ? fl->path : "?", (long long)ex);
}

/* Converts a source into the field's element type, scalar ops applied; keeps
 * where each example came from, for later messages. */
static bool fill_field(ds_field *fl, const rt_field_spec *f, rt_raw *r, rt_error *err) {
    /* the readers checked n * per values against the file's size */
    int64_t total = r->n * r->per;
    fl->data = malloc((size_t)(total ? total : 1) * 4);
    fl->path = strdup(r->path);
    if (!fl->data || !fl->path) {
        rt_fail(err, "%s: out of memory for field %s", r->path, f->name);
        return false;
    }
    fl->lines = r->lines;
    fl->line_per_example = r->line_per_example;
    r->lines = NULL;
    for (int64_t i = 0; i < total; i++) {
        double v = apply_ops(f, rt_raw_get(r, i));
        char at[RT_PATH_MAX + 32];
        if (!fl->is_i32) {
            float x = (float)v;
            if (isfinite(x)) {
                ((float *)fl->data)[i] = x;
                continue;
            }
            where(fl, i / r->per, at, sizeof at);
            rt_fail(err, "%s: value %lld of field %s is %g after the load's arithmetic, not a finite "
                    "f32", at, (long long)(i % r->per) + 1, f->name, v);
            return false;
        }
        if (v != floor(v) || v < INT32_MIN || v > INT32_MAX) {
            where(fl, i / r->per, at, sizeof at);
            rt_fail(err, "%s: value %g does not fit the i32 field %s", at, v, f->name);
            return false;
        }
        ((int32_t *)fl->data)[i] = (int32_t)v;
    }
    return true;
}

static bool load_fields(rt_dataset *ds, const rt_dataset_spec *spec, rt_error *err) {
    ds->fields = calloc((size_t)(spec->n_fields ? spec->n_fields : 1), sizeof *ds->fields);
    if (!ds->fields) {
        rt_fail(err, "dataset %s: out of memory", ds->name);
        return false;
    }
    char first_path[RT_PATH_MAX] = "";
    for (int k = 0; k < spec->n_fields; k++) {
        const rt_field_spec *f = &spec->fields[k];
        ds_field *fl = &ds->fields[ds->n_fields++];
        snprintf(fl->name, sizeof fl->name, "%s", f->name);
        fl->is_i32 = f->is_i32;
        fl->numel = 1;
        for (int d = 0; d < f->rank; d++) {
            if (f->dims[d] < 0 || (f->dims[d] && fl->numel > ((int64_t)1 << 40) / f->dims[d])) {
                rt_fail(err, "dataset %s: field %s is too large", ds->name, f->name);
                return false;
            }
            fl->numel *= f->dims[d];
        }
        rt_raw r;
        if (!rt_raw_load(f, spec, &r, err)) return false;
        if (f->kind == RT_SRC_TEXT && !ds->text) {
            /* the cached corpus rt_raw_load read: its words name the ids */
            ds->text = rt_text_load(spec->base_dir, f->path, spec->lowercase, spec->char_unit, err);
            if (!ds->text) {
                rt_raw_free(&r);
                return false;
            }
            ds->n_kept = rt_text_kept(ds->text, spec->min_count);
        }
        if (r.vocab && !ds->vocab) ds->vocab = r.vocab;
        bool ok = true;
        if (r.per != fl->numel) {
            char dims[128];
            fmt_dims(f, dims, sizeof dims);
            rt_fail(err, "%s: %lld values per example, but field %s: %s holds %lld", r.path,
                    (long long)r.per, f->name, dims, (long long)fl->numel);
            ok = false;
        } else if (k > 0 && r.n != ds->n) {
            rt_fail(err, "dataset %s: field %s has %lld examples (%s) but field %s has %lld (%s)",
                    ds->name, f->name, (long long)r.n, r.path, spec->fields[0].name,
                    (long long)ds->n, first_path);
            ok = false;
        }
        if (ok && k == 0) {
            ds->n = r.n;
            snprintf(first_path, sizeof first_path, "%s", r.path);
        }
        ok = ok && fill_field(fl, f, &r, err);
        rt_raw_free(&r);
        if (!ok) return false;
    }
    return true;
}

/* ------------------------------------------------------------ skipgram */

static bool add_pair(rt_dataset *ds, int32_t center, int32_t context) {
    if (ds->n_pairs == ds->pairs_cap) {
        int64_t nc = ds->pairs_cap ? ds->pairs_cap * 2 : 1 << 16;
        int32_t *np = realloc(ds->pairs, (size_t)nc * 2 * sizeof *np);
        if (!np) return false;
        ds->pairs = np;
        ds->pairs_cap = nc;
    }
    ds->pairs[2 * ds->n_pairs] = center;
    ds->pairs[2 * ds->n_pairs + 1] = context;
    ds->n_pairs++;
    return true;
}

/* word2vec's sampler, one sentence at a time: drop frequent words with
 * probability 1 - (sqrt(f/t) + 1) * t/f (f = count / total, t = subsample), then
 * for each kept word pick b uniformly in [1, window] and pair it with the kept
 * words at most b places away in the same sentence. */
static bool draw_pairs(rt_dataset *ds) {
    const rt_corpus *c = &ds->corpus;
    ds->n_pairs = 0;
    rt_rng keep, win;
    rt_rng_init(&keep, ds->seed, STREAM_KEEP, (uint64_t)ds->epoch);
    rt_rng_init(&win, ds->seed, STREAM_KEEP + 1, (uint64_t)ds->epoch);
    double total = (double)c->n, t = ds->subsample;
    for (int64_t s = 0; s < c->n_sent; s++) {
        int64_t nk = 0;
        for (int64_t p = c->sent[s]; p < c->sent[s + 1]; p++) {
            double u = rt_rng_uniform(&keep);
            if (t > 0) {
                double f = (double)c->counts[c->ids[p]] / total;
                if ((sqrt(f / t) + 1.0) * t / f < u) continue;
            }
            ds->kept[nk++] = p;
        }
        for (int64_t i = 0; i < nk; i++) {
            int64_t b = 1 + (int64_t)rt_rng_below(&win, (uint64_t)ds->window);
            for (int64_t j = i - b; j <= i + b; j++) {
                if (j < 0 || j >= nk || j == i) continue;
                if (!add_pair(ds, c->ids[ds->kept[i]], c->ids[ds->kept[j]])) return false;
            }
        }
    }
    return true;
}

/* One draw from unigram^0.75 in O(1): the high part of x * V picks a slot, the
 * low 32 bits (uniform too) decide between the slot's word and its alias. */
static int32_t draw_unigram(const rt_dataset *ds, uint32_t x) {
    uint64_t t = (uint64_t)x * (uint64_t)ds->corpus.n_words;
    uint32_t slot = (uint32_t)(t >> 32), frac = (uint32_t)t;
    return frac < ds->alias_keep[slot] ? (int32_t)slot : ds->alias[slot];
}

/* Vose's alias method: scale the weights to mean 1, then pair each slot under 1
 * with a slot over 1 that fills its remainder. */
static bool build_alias(rt_dataset *ds) {
    int64_t n = ds->corpus.n_words;
    double *q = malloc((size_t)n * sizeof *q);
    int64_t *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    ds->alias_keep = malloc((size_t)n * sizeof *ds->alias_keep);
    ds->alias = malloc((size_t)n * sizeof *ds->alias);
    bool ok = q && small && large && ds->alias_keep && ds->alias;
    if (ok) {
        double total = 0;
        for (int64_t w = 0; w < n; w++) total += q[w] = pow((double)ds->corpus.counts[w], 0.75);
        int64_t ns = 0, nl = 0;
        for (int64_t w = 0; w < n; w++) {
            q[w] *= (double)n / total;
            if (q[w] < 1.0) small[ns++] = w;
            else large[nl++] = w;
        }
        while (ns && nl) {
            int64_t s = small[--ns], l = large[nl - 1];
            ds->alias_keep[s] = (uint64_t)(q[s] * 4294967296.0);
            ds->alias[s] = (int32_t)l;
            q[l] -= 1.0 - q[s];
            if (q[l] < 1.0) {
                nl--;
                small[ns++] = l;
            }
        }
        /* what is left is 1 up to rounding: always keep */
        while (nl) ds->alias_keep[large[--nl]] = (uint64_t)1 << 32;
        while (ns) ds->alias_keep[small[--ns]] = (uint64_t)1 << 32;
        for (int64_t w = 0; w < n; w++)
            if (ds->alias_keep[w] == (uint64_t)1 << 32) ds->alias[w] = (int32_t)w;
    }
    free(q);
    free(small);
    free(large);
    return ok;
}

/* Negatives of pair q (its index before shuffling): draws 2k and 2k+1 of the
 * pair's slice of the NEG stream; the second replaces a draw equal to the context. */
static void pair_negatives(const rt_dataset *ds, int64_t q, int32_t *out) {
    rt_rng r;
    rt_rng_init(&r, ds->seed, STREAM_NEG, (uint64_t)ds->epoch);
    rt_rng_seek(&r, (uint64_t)q * (uint64_t)(2 * ds->negatives));
    int32_t context = ds->pairs[2 * q + 1];
    for (int64_t k = 0; k < ds->negatives; k++) {
        uint32_t a = rt_rng_u32(&r), b = rt_rng_u32(&r);
        int32_t w = draw_unigram(ds, a);
        out[k] = w == context ? draw_unigram(ds, b) : w;
    }
}

static bool load_skipgram(rt_dataset *ds, const rt_dataset_spec *spec, rt_error *err) {
    if (spec->window < 1 || spec->negatives < 0) {
        rt_fail(err, "dataset %s: skipgram needs window >= 1 and negatives >= 0", ds->name);
        return false;
    }
    if (!rt_corpus_load(spec->base_dir, spec->text_path, spec->lowercase, spec->char_unit,
                        spec->min_count, &ds->corpus, err))
        return false;
    const rt_corpus *c = &ds->corpus;
    if (c->n_words == 0) {
        rt_fail(err, "dataset %s: no word of '%s' occurs min_count = %lld times", ds->name,
                spec->text_path, (long long)spec->min_count);
        return false;
    }
    ds->skipgram = true;
    ds->window = spec->window;
    ds->negatives = spec->negatives;
    ds->subsample = spec->subsample;
    ds->vocab = c->n_words;
    ds->kept = malloc((size_t)(c->n ? c->n : 1) * sizeof *ds->kept);
    ds->fields = calloc(3, sizeof *ds->fields);
    if (!build_alias(ds) || !ds->kept || !ds->fields) {
        rt_fail(err, "dataset %s: out of memory", ds->name);
        return false;
    }
    const char *names[3] = {"center", "context", "negatives"};
    for (int k = 0; k < 3; k++) {
        snprintf(ds->fields[k].name, sizeof ds->fields[k].name, "%s", names[k]);
        ds->fields[k].is_i32 = true;
        ds->fields[k].numel = k == 2 ? spec->negatives : 1;
    }
    ds->n_fields = 3;
    return true;
}

/* ------------------------------------------------------------ sequences */

/* The windows are read from the cached corpus as batches are filled, so a
 * sequences dataset holds no copy of the text (any stride, any length). */
static bool load_sequences(rt_dataset *ds, const rt_dataset_spec *spec, rt_error *err) {
    if (spec->seq_length < 1 || spec->seq_stride < 1) {
        rt_fail(err, "dataset %s: sequences needs length >= 1 and stride >= 1 (length = %lld, stride = %lld)",
                ds->name, (long long)spec->seq_length, (long long)spec->seq_stride);
        return false;
    }
    ds->text = rt_text_load(spec->base_dir, spec->text_path, spec->lowercase, spec->char_unit, err);
    if (!ds->text) return false;
    const rt_text *t = ds->text;
    if (t->n == 0) {
        rt_fail(err, "dataset %s: the corpus '%s' (%s) is empty: it has no token", ds->name,
                spec->text_path, t->path);
        return false;
    }
    double end = spec->seq_end > 0 ? spec->seq_end : 1;
    int64_t first = (int64_t)(spec->seq_start * (double)t->n), last = (int64_t)(end * (double)t->n);
    if (last > t->n) last = t->n;
    if (t->n < spec->seq_length) {
        rt_fail(err, "dataset %s: a window of length %lld is longer than the corpus '%s' (%lld tokens)",
                ds->name, (long long)spec->seq_length, spec->text_path, (long long)t->n);
        return false;
    }
    if (last - first < spec->seq_length) {
        rt_fail(err, "dataset %s: a window of length %lld is longer than its part of the corpus '%s' (tokens %lld "
                "to %lld of %lld: start = %g, end = %g)", ds->name, (long long)spec->seq_length, spec->text_path,
                (long long)first, (long long)last, (long long)t->n, spec->seq_start, end);
        return false;
    }
    if (spec->tags && !t->tags) {
        rt_fail(err, "dataset %s: `tags = true` needs word/TAG tokens, but no token of the corpus '%s' (%s) has "
                "a tag", ds->name, spec->text_path, t->path);
        return false;
    }
    ds->sequences = true;
    ds->seq_length = spec->seq_length;
    ds->seq_stride = spec->seq_stride;
    ds->n_kept = rt_text_kept(t, spec->min_count);
    ds->vocab = ds->n_kept + 1;
    ds->n_tags = spec->tags ? t->n_tags : 0;
    ds->seq_first = first;
    ds->n = (last - first - spec->seq_length) / spec->seq_stride + 1;
    ds->n_fields = spec->tags ? 2 : 1;
    ds->fields = calloc((size_t)ds->n_fields, sizeof *ds->fields);
    if (!ds->fields) {
        rt_fail(err, "dataset %s: out of memory", ds->name);
        return false;
    }
    for (int k = 0; k < ds->n_fields; k++) {
        snprintf(ds->fields[k].name, sizeof ds->fields[k].name, "%s", k ? "tags" : "ids");
        ds->fields[k].is_i32 = true;
        ds->fields[k].numel = spec->seq_length;
    }
    return true;
}

/* Field 0: the window's word ids; field 1: their tag ids. */
static void fill_window(const rt_dataset *ds, int field, int64_t example, int32_t *out) {
    int64_t at = ds->seq_first + example * ds->seq_stride;
    if (field == 1) {
        const int32_t *tags = ds->text->tags + at;
        for (int64_t k = 0; k < ds->seq_length; k++) out[k] = tags[k] + 1;
        return;
    }
    const int32_t *ids = ds->text->ids + at;
    for (int64_t k = 0; k < ds->seq_length; k++) out[k] = ids[k] < ds->n_kept ? ids[k] + 1 : 0;
}

/* ------------------------------------------------------------ the API */

void rt_dataset_free(rt_dataset *ds) {
    if (!ds) return;
    if (!ds->skipgram)
        for (int k = 0; k < ds->n_fields; k++) {
            free(ds->fields[k].data);
            free(ds->fields[k].path);
            free(ds->fields[k].lines);
        }
    free(ds->fields);
    rt_corpus_free(&ds->corpus);
    free(ds->alias_keep);
    free(ds->alias);
    free(ds->pairs);
    free(ds->kept);
    free(ds->order);
    free(ds);
}

rt_dataset *rt_dataset_load(const rt_dataset_spec *spec, rt_error *err) {
    rt_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        rt_fail(err, "dataset %s: out of memory", spec->name);
        return NULL;
    }
    snprintf(ds->name, sizeof ds->name, "%s", spec->name ? spec->name : "?");
    ds->lowercase = spec->lowercase;
    ds->char_unit = spec->char_unit;
    bool ok = spec->skipgram    ? load_skipgram(ds, spec, err)
              : spec->sequences ? load_sequences(ds, spec, err)
                                : load_fields(ds, spec, err);
    if (ok && rt_dataset_begin_epoch(ds, 0, 0, false, 0) < 0) {
        rt_fail(err, "dataset %s: out of memory", ds->name);
        ok = false;
    }
    if (!ok) {
        rt_dataset_free(ds);
        return NULL;
    }
    return ds;
}

int rt_dataset_n_fields(const rt_dataset *ds) { return ds->n_fields; }

int rt_dataset_field_index(const rt_dataset *ds, const char *name) {
    for (int k = 0; k < ds->n_fields; k++)
        if (strcmp(ds->fields[k].name, name) == 0) return k;
    return -1;
}

const char *rt_dataset_field_name(const rt_dataset *ds, int field) { return ds->fields[field].name; }
int64_t rt_dataset_field_numel(const rt_dataset *ds, int field) { return ds->fields[field].numel; }
bool rt_dataset_field_is_i32(const rt_dataset *ds, int field) { return ds->fields[field].is_i32; }

bool rt_dataset_property(const rt_dataset *ds, const char *name, int64_t *value) {
    if (strcmp(name, "vocab") == 0 && ds->vocab > 0) {
        *value = ds->vocab;
        return true;
    }
    if (strcmp(name, "tags") == 0 && ds->n_tags > 0) {
        *value = ds->n_tags + 1;
        return true;
    }
    if (strcmp(name, "words") == 0 && ds->corpus.ids) {
        *value = ds->corpus.n;
        return true;
    }
    return false;
}

/* skipgram's vocabulary is the words kept at min_count (load_skipgram): its load
 * would also copy the corpus and draw the first epoch's pairs. */
static bool vocab_from_corpus(const rt_dataset_spec *spec, const char *name) {
    return spec->skipgram && strcmp(name, "vocab") == 0 && spec->window >= 1 && spec->negatives >= 0;
}

/* sequences' `vocab` and `tags` are the corpus's (load_sequences); whether its
 * load succeeds depends on the corpus and the window options, which the key names. */
static bool sequences_property(const rt_dataset_spec *spec, const char *name) {
    return spec->sequences && (strcmp(name, "vocab") == 0 || (strcmp(name, "tags") == 0 && spec->tags));
}

char *rt_dataset_spec_key(const rt_dataset_spec *spec, const char *name) {
    bool skipgram = vocab_from_corpus(spec, name);
    if (!skipgram && !sequences_property(spec, name)) return NULL;
    rt_error err = {0};
    char *text = rt_text_key(spec->base_dir, spec->text_path, spec->lowercase, spec->char_unit, &err);
    if (!text) return NULL;
    char options[256];
    if (skipgram)
        snprintf(options, sizeof options, "skipgram vocab, min_count %lld", (long long)spec->min_count);
    else
        snprintf(options, sizeof options, "sequences %s, min_count %lld, length %lld, stride %lld, start %.17g, "
                 "end %.17g, tags %d", name, (long long)spec->min_count, (long long)spec->seq_length,
                 (long long)spec->seq_stride, spec->seq_start, spec->seq_end, (int)spec->tags);
    size_t n = strlen(text) + strlen(options) + 3;
    char *key = malloc(n);
    if (key) snprintf(key, n, "%s: %s", options, text);
    free(text);
    return key;
}

bool rt_dataset_spec_property(const rt_dataset_spec *spec, const char *name, int64_t *value) {
    if (!vocab_from_corpus(spec, name)) return false;
    rt_error err = {0};
    const rt_text *t = rt_text_load(spec->base_dir, spec->text_path, spec->lowercase, spec->char_unit, &err);
    int64_t kept = t ? rt_text_kept(t, spec->min_count) : 0;
    if (kept == 0) return false; /* the load says why */
    *value = kept;
    return true;
}

int64_t rt_dataset_size(const rt_dataset *ds) { return ds->skipgram ? ds->n_pairs : ds->n; }

int64_t rt_dataset_begin_epoch(rt_dataset *ds, uint64_t seed, int64_t epoch, bool shuffle,
                               int64_t limit) {
    ds->seed = seed;
    ds->epoch = epoch;
    if (ds->skipgram && !draw_pairs(ds)) return -1;
    int64_t n = rt_dataset_size(ds);
    if (limit > 0 && limit < n) n = limit;
    if (n > ds->order_cap) {
        int64_t *o = realloc(ds->order, (size_t)n * sizeof *o);
        if (!o) return -1;
        ds->order = o;
        ds->order_cap = n;
    }
    for (int64_t i = 0; i < n; i++) ds->order[i] = i;
    if (shuffle) {
        rt_rng r;
        rt_rng_init(&r, seed, STREAM_SHUFFLE, (uint64_t)epoch);
        rt_rng_shuffle(&r, ds->order, n);
    }
    ds->n_epoch = n;
    return n;
}

int64_t rt_dataset_epoch_size(const rt_dataset *ds) { return ds->n_epoch; }

int64_t rt_dataset_batches(const rt_dataset *ds, int64_t batch) {
    return batch > 0 ? (ds->n_epoch + batch - 1) / batch : 0;
}

int64_t rt_dataset_batch_rows(const rt_dataset *ds, int64_t index, int64_t batch) {
    int64_t start = index * batch;
    if (batch <= 0 || start < 0 || start >= ds->n_epoch) return 0;
    return ds->n_epoch - start < batch ? ds->n_epoch - start : batch;
}

int64_t rt_dataset_fill(const rt_dataset *ds, int64_t index, int64_t batch, const int *fields,
                        int n, void *const *out) {
    return rt_dataset_fill_range(ds, index, batch, 0, batch, fields, n, out);
}

int64_t rt_dataset_fill_range(const rt_dataset *ds, int64_t index, int64_t batch, int64_t first,
                              int64_t count, const int *fields, int n, void *const *out) {
    int64_t in_batch = rt_dataset_batch_rows(ds, index, batch);
    if (first < 0 || count <= 0 || first >= in_batch) return 0;
    int64_t start = index * batch + first;
    int64_t rows = in_batch - first < count ? in_batch - first : count;
    for (int k = 0; k < n; k++) {
        const ds_field *f = &ds->fields[fields[k]];
        size_t bytes = (size_t)f->numel * 4;
        for (int64_t r = 0; r < rows; r++) {
            int64_t ex = ds->order[start + r];
            char *dst = (char *)out[k] + (size_t)r * bytes;
            if (ds->sequences) fill_window(ds, fields[k], ex, (int32_t *)dst);
            else if (!ds->skipgram) memcpy(dst, (const char *)f->data + (size_t)ex * bytes, bytes);
            else if (fields[k] < 2) memcpy(dst, &ds->pairs[2 * ex + fields[k]], 4);
            else pair_negatives(ds, ex, (int32_t *)dst);
        }
    }
    return rows;
}

bool rt_dataset_check_index(const rt_dataset *ds, int field, int64_t limit, const char *use,
                            rt_error *err) {
    /* skipgram draws its ids from the vocabulary, which the tables are sized by */
    if (ds->skipgram || limit <= 0 || field < 0 || field >= ds->n_fields) return true;
    const ds_field *fl = &ds->fields[field];
    /* sequences: the windows are read from the corpus, whose kept words have ids 1..n_kept
     * and tags 1..n_tags */
    if (ds->sequences) {
        int64_t top = field ? ds->n_tags : ds->n_kept;
        if (top < limit) return true;
        rt_fail(err, "dataset %s: field %s holds ids up to %lld (%lld ids, 0 included), but it is used as %s, so it "
                "must lie in [0, %lld)", ds->name, fl->name, (long long)top, (long long)top + 1,
                use ? use : "an index", (long long)limit);
        return false;
    }
    if (!fl->is_i32) return true;
    /* sequences hold no ids (windows are read from the corpus as batches fill): every id is
     * below the vocabulary */
    if (ds->sequences) {
        if (ds->vocab <= limit) return true;
        rt_fail(err, "dataset %s: field %s holds ids up to %lld (its vocabulary), but it is used as %s, "
                "so it must lie in [0, %lld)", ds->name, fl->name, (long long)ds->vocab - 1,
                use ? use : "an index", (long long)limit);
        return false;
    }
    const int32_t *v = fl->data;
    for (int64_t i = 0; i < ds->n * fl->numel; i++) {
        if (v[i] >= 0 && v[i] < limit) continue;
        char at[RT_PATH_MAX + 32];
        where(fl, i / fl->numel, at, sizeof at);
        rt_fail(err, "%s: field %s holds %d, but it is used as %s, so it must lie in [0, %lld)", at,
                fl->name, (int)v[i], use ? use : "an index", (long long)limit);
        return false;
    }
    return true;
}

/* Id 0 of a text field or sequences stands for every word under min_count. */
#define UNKNOWN_WORD "<unk>"

int64_t rt_dataset_vocab_size(const rt_dataset *ds) {
    return ds->text ? ds->n_kept + 1 : ds->corpus.n_words;
}

const char *rt_dataset_word(const rt_dataset *ds, int64_t id) {
    if (ds->text) return id == 0 ? UNKNOWN_WORD : id > 0 && id <= ds->n_kept ? ds->text->words[id - 1] : NULL;
    return id >= 0 && id < ds->corpus.n_words ? ds->corpus.words[id] : NULL;
}

int64_t rt_dataset_encode(const rt_dataset *ds, const char *text, int32_t *ids, int64_t *starts, int64_t *lens,
                          int64_t cap) {
    if (!ds->text) return -1;
    return rt_text_encode(ds->text, ds->n_kept, ds->lowercase, ds->char_unit, text, ids, starts, lens, cap);
}

bool rt_dataset_write_vocab(const rt_dataset *ds, const char *path, rt_error *err) {
    rt_replace out;
    if (!rt_replace_begin(&out, path, "vocabulary", err)) return false;
    for (int64_t i = 0, n = rt_dataset_vocab_size(ds); i < n; i++) fprintf(out.f, "%s\n", rt_dataset_word(ds, i));
    return rt_replace_commit(&out, err);
}
