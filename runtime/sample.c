/* sample.c — a stage's `sample` setting (rlrt.h, rt_sampler): continuations of a
 * prompt drawn token by token from a next-token model, as a PyTorch user's
 * generate loop does (temperature, top-k, a seeded generator), printed and
 * written to RUNS/STAGE/samples.txt. The model runs on the whole window each
 * token (no cache): a few hundred forward passes at the end of a stage. */
#define _POSIX_C_SOURCE 200809L
#include "rlrt.h"
#include "fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_SAMPLE 0x53414d504c45ull /* "SAMPLE" */

/* A vocabulary entry as text: a byte written \xNN (unit "char") is that byte,
 * except a newline, kept as "\n" so a sample stays on one line. */
static void put_token(FILE *f, const char *w, bool char_unit) {
    unsigned int byte;
    if (char_unit && strlen(w) == 4 && sscanf(w, "\\x%2x", &byte) == 1) {
        if (byte == '\n') fputs("\\n", f);
        else if (byte == '\\' || byte == '\t' || byte == ' ') fputc((int)byte, f);
        else fputs(w, f);
        return;
    }
    fputs(w, f);
}

/* Index of the token drawn from one row of logits: the largest when temperature
 * is 0; else softmax(logits / temperature) over the top_k largest (all when 0),
 * inverted at one uniform draw. Ties keep the lower id, so the draw is the same
 * on every machine. */
static int64_t draw_token(const float *logits, int64_t v, double temperature, int64_t top_k, rt_rng *rng,
                          double *p, int64_t *order) {
    int64_t best = 0;
    for (int64_t i = 1; i < v; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature == 0) return best;
    int64_t k = top_k > 0 && top_k < v ? top_k : v;
    /* the k largest by selection: k is small (or all, then no selection is needed) */
    for (int64_t i = 0; i < v; i++) order[i] = i;
    if (k < v)
        for (int64_t j = 0; j < k; j++) {
            int64_t m = j;
            for (int64_t i = j + 1; i < v; i++)
                if (logits[order[i]] > logits[order[m]] || (logits[order[i]] == logits[order[m]] && order[i] < order[m]))
                    m = i;
            int64_t t = order[j];
            order[j] = order[m];
            order[m] = t;
        }
    double total = 0;
    for (int64_t j = 0; j < k; j++) {
        p[j] = exp(((double)logits[order[j]] - logits[best]) / temperature);
        total += p[j];
    }
    double u = rt_rng_uniform(rng) * total, acc = 0;
    for (int64_t j = 0; j < k; j++) {
        acc += p[j];
        if (u < acc) return order[j];
    }
    return order[k - 1];
}

bool rt_sample_run(const rt_sampler *s, const char *stage, rt_dataset *ds, int64_t limit, uint64_t seed,
                   float *const *params, rt_pool *pool, const char *dir, FILE *out, rt_error *err) {
    int64_t V = s->vocab, T = s->positions, B = s->count, N = s->tokens;
    if (rt_dataset_vocab_size(ds) != V) {
        rt_fail(err, "stage %s: `sample` logits have %lld entries a position but the vocabulary of its data has "
                     "%lld words", stage, (long long)V, (long long)rt_dataset_vocab_size(ds));
        return false;
    }
    int64_t n_prompt = rt_dataset_encode(ds, s->prompt, NULL, NULL, NULL, 0);
    if (n_prompt <= 0) {
        rt_fail(err, n_prompt < 0 ? "stage %s: `sample` needs a dataset with a text vocabulary"
                                  : "stage %s: the `prompt` has no token to start from", stage);
        return false;
    }
    int64_t len = n_prompt + N;
    int32_t *text = malloc(sizeof *text * (size_t)(len * B));
    int64_t *starts = malloc(sizeof *starts * (size_t)n_prompt), *lens = malloc(sizeof *lens * (size_t)n_prompt);
    int *fields = calloc((size_t)s->n_inputs + 1, sizeof *fields);
    void **inputs = calloc((size_t)s->n_inputs + 1, sizeof *inputs);
    float *logits = malloc(sizeof *logits * (size_t)(B * T * V));
    double *p = malloc(sizeof *p * (size_t)V);
    int64_t *order = malloc(sizeof *order * (size_t)V);
    void *ws = malloc(s->workspace_bytes(s->user, B) + 64);
    rt_rng *rng = malloc(sizeof *rng * (size_t)B);
    bool ok = text && starts && lens && fields && inputs && logits && p && order && ws && rng;
    if (!ok) rt_fail(err, "stage %s: out of memory for `sample`", stage);
    int64_t L = 0;
    for (int i = 0; ok && i < s->n_inputs; i++) {
        fields[i] = rt_dataset_field_index(ds, s->inputs[i]);
        int64_t numel = fields[i] < 0 ? 0 : rt_dataset_field_numel(ds, fields[i]);
        if (fields[i] < 0) {
            rt_fail(err, "stage %s: no field %s", stage, s->inputs[i]);
            ok = false;
        } else if (!(inputs[i] = calloc((size_t)(B * numel) + 1, 4))) {
            rt_fail(err, "stage %s: out of memory for `sample`", stage);
            ok = false;
        }
        if (i == s->window) L = numel;
    }
    if (ok) {
        /* the other fields as in the first examples of the data; the window is overwritten */
        int64_t size = rt_dataset_begin_epoch(ds, seed, 0, false, limit);
        if (size > 0) rt_dataset_fill(ds, 0, B < size ? B : size, fields, s->n_inputs, inputs);
        rt_dataset_encode(ds, s->prompt, text, starts, lens, n_prompt);
        for (int64_t b = 0; b < B; b++) {
            if (b) memcpy(text + b * len, text, sizeof *text * (size_t)n_prompt);
            rt_rng_init(&rng[b], seed, STREAM_SAMPLE, (uint64_t)b);
        }
    }
    rt_step_ctx ctx = {.B = B, .seed = seed, .params = params, .inputs = inputs, .workspace = ws, .pool = pool};
    for (int64_t at = n_prompt; ok && at < len; at++) {
        /* the context: the last T tokens, at the window's start */
        int64_t m = at < T ? at : T;
        int32_t *w = inputs[s->window];
        for (int64_t b = 0; b < B; b++) {
            memset(w + b * L, 0, sizeof *w * (size_t)L);
            memcpy(w + b * L, text + b * len + at - m, sizeof *w * (size_t)m);
        }
        s->logits(s->user, &ctx, logits);
        for (int64_t b = 0; b < B; b++)
            text[b * len + at] = (int32_t)draw_token(logits + (b * T + m - 1) * V, V, s->temperature, s->top_k,
                                                     &rng[b], p, order);
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/samples.txt", dir);
    rt_replace file = {0};
    if (ok) ok = rt_replace_begin(&file, path, "samples", err);
    FILE *f = file.f;
    bool chars = s->char_unit;
    for (int64_t k = 0; ok && k < n_prompt; k++)
        if (text[k] == 0 && out)
            fprintf(out, "%s: \"%.*s\" is not in the vocabulary: the model reads %s\n", stage, (int)lens[k],
                    s->prompt + starts[k], rt_dataset_word(ds, 0));
    if (ok && out)
        fprintf(out, "%s: %lld samples of %lld tokens after \"%s\" (temperature %g, top_k %lld, seed %llu) -> %s\n",
                stage, (long long)B, (long long)N, s->prompt, s->temperature, (long long)s->top_k,
                (unsigned long long)seed, path);
    for (int64_t b = 0; ok && b < B; b++) {
        FILE *dst[2] = {f, out};
        for (int d = 0; d < 2; d++) {
            if (!dst[d]) continue;
            if (d) fprintf(dst[d], "%s  %lld: ", stage, (long long)b + 1);
            for (int64_t i = 0; i < len; i++) {
                if (i && !chars) fputc(' ', dst[d]);
                if (i == n_prompt) fputs(chars ? " | " : "| ", dst[d]);
                put_token(dst[d], rt_dataset_word(ds, text[b * len + i]), chars);
            }
            fputc('\n', dst[d]);
        }
    }
    if (ok) ok = rt_replace_commit(&file, err);
    else rt_replace_abort(&file);
    for (int i = 0; inputs && i < s->n_inputs; i++) free(inputs[i]);
    free(text);
    free(starts);
    free(lens);
    free(fields);
    free(inputs);
    free(logits);
    free(p);
    free(order);
    free(ws);
    free(rng);
    return ok;
}
