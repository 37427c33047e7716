/* fuzz_data.c — libFuzzer harness for one data reader, chosen when built
 * (FUZZ_FORMAT = FUZZ_IDX, FUZZ_CSV, FUZZ_NPY, FUZZ_TEXT or FUZZ_TOKENS): the
 * input is the data file. What a program would do with it runs: the source is
 * read (rt_raw_load, which inflates gzip), then loaded as a dataset whose field
 * has the shape the file holds (rt_dataset_load: conversion, scalar ops, i32
 * range checks), an epoch is shuffled and every batch filled. A text file is
 * also loaded as a skip-gram dataset (vocabulary, subsampling, windows, alias
 * table, negatives) over two epochs. A reader may refuse the input with an
 * error; it must not crash, hang, leak or read out of bounds. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "fuzz_util.h"

enum { FUZZ_IDX, FUZZ_CSV, FUZZ_NPY, FUZZ_TEXT, FUZZ_TOKENS };
enum { BATCH = 7, TOKENS_LENGTH = 5, MAX_NUMEL = 1 << 20 };

/* Every batch of an epoch, shuffled, into buffers of the fields' sizes. */
static void fill_epoch(rt_dataset *ds, int64_t epoch) {
    if (rt_dataset_begin_epoch(ds, 1234, epoch, true, 0) < 0) return;
    int n = rt_dataset_n_fields(ds);
    int fields[8];
    void *out[8];
    /* an empty file may declare 2^40 values per example: no buffers for those */
    for (int k = 0; k < n; k++)
        if (rt_dataset_field_numel(ds, k) > MAX_NUMEL) return;
    for (int k = 0; k < n && k < 8; k++) {
        fields[k] = k;
        out[k] = malloc((size_t)(BATCH * rt_dataset_field_numel(ds, k)) * 4 + 1);
    }
    if (n > 8) n = 8;
    for (int64_t b = 0; b < rt_dataset_batches(ds, BATCH); b++)
        if (rt_dataset_fill(ds, b, BATCH, fields, n, out) <= 0) abort(); /* every batch has rows */
    for (int k = 0; k < n; k++) free(out[k]);
}

/* The dataset as a program declares it: one field of the file's shape. */
static void load_as_dataset(const rt_field_spec *f) {
    rt_error err = {0};
    rt_dataset_spec spec = {.name = "fuzz", .base_dir = fuzz_dir(), .n_fields = 1,
                            .fields = (rt_field_spec *)f, .lowercase = true, .min_count = 1};
    rt_dataset *ds = rt_dataset_load(&spec, &err);
    if (!ds) return;
    int64_t vocab;
    rt_dataset_property(ds, "vocab", &vocab);
    fill_epoch(ds, 0);
    rt_dataset_free(ds);
}

static void load_skipgram(const char *name) {
    rt_error err = {0};
    rt_dataset_spec spec = {.name = "fuzz", .base_dir = fuzz_dir(), .skipgram = true, .text_path = name,
                            .lowercase = true, .min_count = 1, .window = 3, .negatives = 2,
                            .subsample = 1e-2};
    rt_dataset *ds = rt_dataset_load(&spec, &err);
    if (!ds) return;
    for (int64_t id = 0; id < rt_dataset_vocab_size(ds); id++)
        if (!rt_dataset_word(ds, id)) abort();
    fill_epoch(ds, 0);
    fill_epoch(ds, 1);
    rt_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"data.idx", "data.csv", "data.npy", "data.txt", "data.tok"};
    static const rt_source_kind kinds[] = {RT_SRC_IDX, RT_SRC_CSV, RT_SRC_NPY, RT_SRC_TEXT, RT_SRC_TOKENS};
    const char *name = names[FUZZ_FORMAT];
    fuzz_write(name, data, size);
    rt_field_spec f = {.name = "x", .kind = kinds[FUZZ_FORMAT], .path = name, .rank = 1,
                       .length = TOKENS_LENGTH};
    /* csv: as many columns as its header has cells */
    f.columns = 1;
    for (size_t i = 0; i < size && data[i] != '\n'; i++) f.columns += data[i] == ',';
    rt_raw raw;
    rt_error err = {0};
    rt_dataset_spec ds = {.name = "fuzz", .base_dir = fuzz_dir(), .lowercase = true, .min_count = 1};
    if (!rt_raw_load(&f, &ds, &raw, &err)) return 0;
    f.dims[0] = raw.per;
    /* integer sources into an i32 field (checked per value), the others into f32,
     * with a scalar op as `x / 255` would add */
    f.is_i32 = raw.type != RAW_F32 && raw.type != RAW_F64;
    if (!f.is_i32) f.ops[f.n_ops++] = (rt_scalar_op){.op = '/', .value = 255};
    rt_raw_free(&raw);
    load_as_dataset(&f);
    if (FUZZ_FORMAT == FUZZ_TEXT) load_skipgram(name);
    return 0;
}
