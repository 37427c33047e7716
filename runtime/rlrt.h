/* rlrt.h — librlrt, the runtime of rlc: the one header generated code and the
 * runtime share (DESIGN.md, Runtime ABI). Generated code calls the runtime only
 * through the functions declared in the ABI section below; the rest is used by
 * the trainer loop (rlc run, and the standalone trainers of rlc build).
 *
 * Prefix: rt_.
 */
#ifndef RLRT_H
#define RLRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ============================================================ errors */

/* Runtime errors are values: a message that says where and what. */
typedef struct rt_error {
    bool failed;
    char msg[1024];
} rt_error;

void rt_fail(rt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ============================================================ datasets */

typedef enum {
    RT_SRC_IDX,      /* MNIST/IDX, plain or .gz */
    RT_SRC_CSV,      /* columns = N, header row skipped */
    RT_SRC_NPY,      /* numpy .npy, float32 or int32 */
    RT_SRC_TEXT,     /* a file or a folder of files; words split on white space; word/TAG keeps word */
    RT_SRC_TOKENS,   /* one example per line: its first `length` word ids, 0 = padding */
} rt_source_kind;

/* Scalar arithmetic applied once at load, in order: x = x OP value (or value OP x). */
typedef struct rt_scalar_op {
    char op;               /* '+', '-', '*', '/' */
    bool value_first;      /* `255 - x` rather than `x - 255` */
    double value;
} rt_scalar_op;

#define RT_MAX_RANK 6
#define RT_MAX_LOAD_OPS 8

typedef struct rt_field_spec {
    const char *name;
    bool is_i32;
    int rank;                          /* per example, without B */
    int64_t dims[RT_MAX_RANK];
    rt_source_kind kind;
    const char *path;                  /* as written in the .rl file */
    int64_t columns;                   /* csv */
    int64_t length;                    /* tokens */
    int n_ops;
    rt_scalar_op ops[RT_MAX_LOAD_OPS];
} rt_field_spec;

/* A dataset as the compiler describes it. A `skipgram` dataset has the fields
 * center: i32, context: i32, negatives: i32[negatives], drawn fresh each epoch. */
typedef struct rt_dataset_spec {
    const char *name;
    const char *base_dir;              /* the folder of the .rl file: paths resolve from here first */
    int n_fields;
    rt_field_spec *fields;
    bool skipgram;
    const char *text_path;             /* skipgram: the text() corpus */
    bool lowercase;
    int64_t min_count;
    int64_t window, negatives;
    double subsample;
} rt_dataset_spec;

/* ============================================================ ABI: generated code */

typedef struct rt_pool rt_pool;

/* Everything one compiled step sees. Generated code reads it; the trainer fills it. */
typedef struct rt_step_ctx {
    int64_t B;                 /* rows in this batch (a last partial batch is smaller) */
    int64_t step;              /* 0-based global step: the RNG counter and Adam's bias correction */
    uint64_t seed;
    float lr;                  /* this step's learning rate, schedule applied */
    float *const *params;      /* per graph parameter, in IrGraph order */
    float *const *opt_state;   /* per graph parameter: momentum, or Adam's m then v (2 x numel) */
    void *const *inputs;       /* per graph input: the batch of that field */
    float *loss;               /* out: the minimized scalar */
    float *reports;            /* out: one per report */
    void *workspace;           /* scratch sized by the compiled plan for the largest B */
    rt_pool *pool;
} rt_step_ctx;

/* Random sources. Counter-based (Philox-4x32-10): element i of a draw depends
 * only on (seed, stream, step, i), so any thread may fill any range and the
 * draws are identical at every thread count. */
enum { RT_RAND_BERNOULLI, RT_RAND_NORMAL, RT_RAND_UNIFORM, RT_RAND_RANDINT };
void rt_random_fill(int kind, void *out, int64_t lo, int64_t hi, double a, double b,
                    uint64_t seed, uint64_t stream, uint64_t step);
/* Translate each image of in [n, h*w] by a random offset in [-max, max]^2, zero fill. */
void rt_shift2d(float *out, const float *in, int64_t n, int64_t h, int64_t w, int64_t max,
                uint64_t seed, uint64_t stream, uint64_t step);

/* Runs fn(ctx, lo, hi) over [0, n) split into contiguous ranges on the pool's threads. */
typedef void (*rt_range_fn)(void *ctx, int64_t lo, int64_t hi);
void rt_parallel_for(rt_pool *pool, int64_t n, rt_range_fn fn, void *ctx);

#endif
