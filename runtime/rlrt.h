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
#include <stdio.h>

/* ============================================================ errors */

/* Runtime errors are values: a message that says where and what. */
typedef struct rt_error {
    bool failed;
    /* Data-parallel runs (docs/mpi.md): the same error on every process, found
     * before any step (rank 0 alone says it; none needs stopping). */
    bool everywhere;
    char msg[1024];
} rt_error;

void rt_fail(rt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The bounds of the counts on a command line (`rlc run`, a built trainer):
 * threads 1..RT_MAX_THREADS; epochs, steps and limit 1..RT_MAX_COUNT (2^53, so
 * a step number stays exact in the double the schedules compute with); seed
 * 0..2^64-1. */
#define RT_MAX_THREADS 1024
#define RT_MAX_COUNT ((uint64_t)1 << 53)

/* Parses s, the value of a command-line option, as a whole decimal number in
 * [min, max]: digits only (no sign, space, or trailing text), never wrapped.
 * On failure the error reads "OPTION needs a whole number from MIN to MAX, not
 * 'S' (WHY)", WHY one of empty, negative, not a number, text after the number,
 * too large, too small. */
bool rt_parse_count(const char *option, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                    rt_error *err);

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
 * center: i32, context: i32, negatives: i32[negatives], drawn fresh each epoch.
 * A `sequences` dataset has the field ids: i32[seq_length]: windows of the corpus's
 * token ids (0: a word under min_count, 1..: the others by falling count), one
 * starting every seq_stride tokens. Both read the corpus text_path, as do text()
 * fields, with the options lowercase, char_unit and min_count. */
typedef struct rt_dataset_spec {
    const char *name;
    const char *base_dir;              /* the folder of the .rl file: paths resolve from here first */
    int n_fields;
    rt_field_spec *fields;
    bool skipgram;
    const char *text_path;             /* skipgram, sequences: the text() corpus */
    bool lowercase;
    int64_t min_count;
    int64_t window, negatives;
    double subsample;
    bool char_unit;                    /* text(unit = "char"): every byte is a token */
    bool sequences;
    int64_t seq_length, seq_stride;
    bool tags;                         /* sequences of text(..., tags = true): also the field
                                          `tags`, the TAG of each word/TAG token */
    double seq_start, seq_end;         /* sequences: the windows lie in tokens [start n, end n) of
                                          the corpus's n (a split); seq_end <= 0 means 1 */
} rt_dataset_spec;

/* Where a data file is: path itself when absolute; else base_dir/path, then each
 * folder of RL_DATA_PATH (':'-separated), then /usr/share/datasets/path. Writes the
 * first that exists (file or folder) to out; a miss is an error listing every place
 * it looked. */
bool rt_resolve_data_path(const char *base_dir, const char *path, char *out, size_t cap,
                          rt_error *err);

/* A loaded dataset: every field as one array of examples (f32 or i32, `numel`
 * values each), or for skipgram the tokenised corpus and this epoch's pairs.
 * Use: load once; per epoch rt_dataset_begin_epoch, then rt_dataset_fill for each
 * batch index below rt_dataset_batches. */
typedef struct rt_dataset rt_dataset;
rt_dataset *rt_dataset_load(const rt_dataset_spec *spec, rt_error *err);
void rt_dataset_free(rt_dataset *ds);
int rt_dataset_n_fields(const rt_dataset *ds);
int rt_dataset_field_index(const rt_dataset *ds, const char *name);   /* -1 when absent */
const char *rt_dataset_field_name(const rt_dataset *ds, int field);
int64_t rt_dataset_field_numel(const rt_dataset *ds, int field);
bool rt_dataset_field_is_i32(const rt_dataset *ds, int field);
/* Named integer properties: `vocab` (tokens: largest id + 1; text fields and
 * sequences: kept words + 1, unknown included; skipgram: kept words); `words`
 * (skipgram: in-vocabulary words of the corpus, before subsampling); `tags`
 * (sequences with tags: the corpus's tags + 1, id 0 for a token without one). */
bool rt_dataset_property(const rt_dataset *ds, const char *name, int64_t *value);
/* rt_dataset_property of the dataset spec would load, where the corpus alone says it
 * (skipgram's `vocab`): from the text, which the process reads once and keeps for
 * rt_dataset_load, without building the dataset (its pairs and negatives tables).
 * False when only the loaded dataset can answer (or its loading would fail). */
bool rt_dataset_spec_property(const rt_dataset_spec *spec, const char *name, int64_t *value);
/* What a property that the corpus decides (skipgram's `vocab`; sequences' `vocab`
 * and `tags`, and whether their load succeeds) depends on, as a text to remember it
 * by between runs (the corpus files' names, sizes, inodes and times, and the
 * options; malloc'd); NULL for other properties or when the corpus cannot be found. */
char *rt_dataset_spec_key(const rt_dataset_spec *spec, const char *name);
/* Examples available: loaded ones, or for skipgram those of the current epoch
 * (epoch 0 is drawn at load, so this is never 0 for a non-empty corpus). */
int64_t rt_dataset_size(const rt_dataset *ds);
/* Starts an epoch: skipgram draws its pairs afresh from (seed, epoch); the first
 * `limit` examples (all when limit <= 0) are taken, in order or shuffled by
 * (seed, epoch). Returns the number of examples in the epoch. */
int64_t rt_dataset_begin_epoch(rt_dataset *ds, uint64_t seed, int64_t epoch, bool shuffle,
                               int64_t limit);
int64_t rt_dataset_epoch_size(const rt_dataset *ds);
/* ceil(epoch size / batch): a last partial batch is kept, never dropped. */
int64_t rt_dataset_batches(const rt_dataset *ds, int64_t batch);
/* Copies batch `index` of the epoch into out[k] (rows x numel of fields[k], f32 or
 * i32 as the field is) and returns its row count (smaller for the last batch). */
int64_t rt_dataset_fill(const rt_dataset *ds, int64_t index, int64_t batch, const int *fields,
                        int n, void *const *out);
/* The rows of batch `index` (0 past the epoch's end), and rt_dataset_fill of only
 * `count` of them from row `first` of the batch on (a process's share, docs/mpi.md):
 * returns the rows copied. */
int64_t rt_dataset_batch_rows(const rt_dataset *ds, int64_t index, int64_t batch);
int64_t rt_dataset_fill_range(const rt_dataset *ds, int64_t index, int64_t batch, int64_t first,
                              int64_t count, const int *fields, int n, void *const *out);
/* Checks that every value of an i32 field lies in [0, limit) (limit <= 0, an f32
 * field or a skipgram dataset: nothing to check). The error names the file and
 * the line (csv, tokens) or the example, the value, and `use`: what the program
 * uses the values for ("a class of one_hot(y, 10) at f.rl:3:9"). */
bool rt_dataset_check_index(const rt_dataset *ds, int field, int64_t limit, const char *use,
                            rt_error *err);
/* Vocabulary (text, sequences and skipgram sources): word of an id ("<unk>" for
 * id 0 of text and sequences), and the whole list written one word per line in
 * id order (the file `save` puts beside parameters). */
int64_t rt_dataset_vocab_size(const rt_dataset *ds);
const char *rt_dataset_word(const rt_dataset *ds, int64_t id);
bool rt_dataset_write_vocab(const rt_dataset *ds, const char *path, rt_error *err);
/* A text split into tokens as the dataset's corpus was (words on white space, a
 * word/TAG keeping `word`, lowercased when the corpus is; or every byte with unit
 * "char"), each token's id in ids (0: not in the vocabulary) and, when starts and
 * lens are not NULL, where it lies in text. Returns the number of tokens (at most
 * cap are written); -1 for a dataset without a text vocabulary. */
int64_t rt_dataset_encode(const rt_dataset *ds, const char *text, int32_t *ids, int64_t *starts, int64_t *lens,
                          int64_t cap);

/* ============================================================ checkpoints */

/* Parameter files are safetensors: an 8-byte little-endian header length, a JSON
 * header {"NAME": {"dtype": "F32", "shape": [...], "data_offsets": [a, b]}, ...,
 * "__metadata__": {"key": "value"}} padded with spaces to 8 bytes, then the raw
 * little-endian data. Optimizer state travels as extra tensors named
 * "__opt__.KIND.PARAM" (KIND: mom, m, v); the metadata of a train stage's file
 * records where its run stands, for --resume (docs/runtime.md, Resume). */
typedef struct rt_tensor_ref {
    const char *name;
    int rank;
    int64_t dims[RT_MAX_RANK];
    float *data;
} rt_tensor_ref;

typedef struct rt_meta {
    const char *key, *value;
} rt_meta;

#define RT_CKPT_FORMAT "rlc-1"

/* Writes atomically: a temporary file in the same folder, flushed and fsync'd,
 * then renamed over path and the folder fsync'd, so a reader sees the old file or
 * the new one, whole. A symbolic link at path is followed (its target is
 * replaced); the file keeps its mode (a new one follows the umask); temporary
 * files of earlier saves of the file that were killed are removed. */
bool rt_ckpt_write(const char *path, const rt_tensor_ref *tensors, int n, const rt_meta *meta,
                   int n_meta, rt_error *err);

/* A file read back and validated (header JSON, dtypes, shapes, offsets inside the
 * data and matching the shapes, no two tensors sharing bytes, every value finite). */
typedef struct rt_ckpt rt_ckpt;
rt_ckpt *rt_ckpt_read(const char *path, rt_error *err);
void rt_ckpt_free(rt_ckpt *c);
int rt_ckpt_count(const rt_ckpt *c);
const rt_tensor_ref *rt_ckpt_tensor(const rt_ckpt *c, int i);
const rt_tensor_ref *rt_ckpt_find(const rt_ckpt *c, const char *name);
const char *rt_ckpt_meta(const rt_ckpt *c, const char *key);  /* NULL when absent */
/* `load`: copies every tensor of the file whose name is among targets into it.
 * Shapes must agree; every disagreement is listed in one error; a file none of
 * whose tensors is among n > 0 targets is an error too. Returns the number of
 * tensors copied, or -1 on error (then nothing is copied). */
int rt_ckpt_load_into(const rt_ckpt *c, const rt_tensor_ref *targets, int n, rt_error *err);
/* When a load matches only in part, writes one line to buf saying which targets
 * were loaded, which are not in the file, and which parameters of the file are
 * not among targets (names starting "__", optimizer state, are not parameters),
 * and returns true; returns false (buf empty) when both sides match whole. */
bool rt_ckpt_load_summary(const rt_ckpt *c, const rt_tensor_ref *targets, int n, char *buf, size_t cap);

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
/* Writes elements [lo, hi) of the draw to out[lo..hi) (out is the whole tensor):
 * bernoulli: f32 1 with probability a, else 0; normal: f32 mean a, std b;
 * uniform: f32 in [a, b); randint: i32 in [a, b). */
void rt_random_fill(int kind, void *out, int64_t lo, int64_t hi, double a, double b,
                    uint64_t seed, uint64_t stream, uint64_t step);
/* Translate each image of in [n, h*w] by a random offset in [-max, max]^2, zero fill. */
void rt_shift2d(float *out, const float *in, int64_t n, int64_t h, int64_t w, int64_t max,
                uint64_t seed, uint64_t stream, uint64_t step);

/* Images (image.c). The windows of an image batch [n, c, h, w]: kernel kh x kw,
 * window (p, q) of oh x ow starts at (p*stride - pad, q*stride - pad), taps dil apart. */
typedef struct rt_window {
    int64_t n, c, h, w, kh, kw, oh, ow, stride, pad, dil;
} rt_window;
/* out [n, c, h, w] = the sum of cols [c, kh, kw, n, oh, ow] added back where each
 * window element lies (elements outside the image are dropped): col2im. */
void rt_col2im(rt_pool *pool, float *out, const float *cols, const rt_window *w);
/* cols [c, kh, kw, n, oh, ow] = the window elements of x [n, c, h, w], `fill` where a
 * window leaves the image: im2col (IR_UNFOLD stored). */
void rt_im2col(rt_pool *pool, float *cols, const float *x, const rt_window *w, float fill);
/* A convolution's products without the batch's columns (image.c): rt_conv computes
 * out [o, n*oh*ow] = weight [o, taps] @ im2col(x) image by image (one image's columns
 * and one sgemm each; split over images, each image's block the same at every thread
 * count), rt_conv_weight_grad out [o, taps] = dy [o, n*oh*ow] @ im2col(x)^T as a sum over
 * the images in order (split over blocks of RT_CONV_ROWS column rows: a split product,
 * docs/runtime.md Determinism). taps = c*kh*kw, window fill 0. */
enum { RT_CONV_ROWS = 16 };
void rt_conv(rt_pool *pool, float *out, const float *weight, const float *x, const rt_window *w, int64_t o);
void rt_conv_weight_grad(rt_pool *pool, float *out, const float *dy, const float *x, const rt_window *w,
                         int64_t o);
/* out [n, c, h, w] = col2im(weight [o, taps]^T @ dy [o, n*oh*ow]) image by image: the
 * input gradient of rt_conv (and conv_transpose2d's forward); split over images. */
void rt_conv_input_grad(rt_pool *pool, float *out, const float *weight, const float *dy, const rt_window *w,
                        int64_t o);

/* Runs fn(ctx, lo, hi) over [0, n) split into contiguous ranges on the pool's threads. */
typedef void (*rt_range_fn)(void *ctx, int64_t lo, int64_t hi);
void rt_parallel_for(rt_pool *pool, int64_t n, rt_range_fn fn, void *ctx);

/* Optimizer updates, called by generated code and the IR interpreter alike.
 * SGD (PyTorch's convention): g = grad + wd*p; mom = momentum*mom + g; p -= lr*mom
 * (mom may be NULL when momentum == 0: then p -= lr*g).
 * Adam: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= lr * m^/(sqrt(v^)+eps) with
 * m^ = m/(1-b1^t), v^ = v/(1-b2^t), t = step + 1 (step is rt_step_ctx.step, 0-based).
 * weight_decay adds wd*p to g (Adam) or, when decoupled (AdamW), subtracts lr*wd*p from p. */
void rt_update_sgd(float *param, const float *grad, float *mom, int64_t n, float lr,
                   float momentum, float weight_decay);
void rt_update_adam(float *param, const float *grad, float *m, float *v, int64_t n, float lr,
                    float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                    int64_t step);
/* Sparse-row variants for embedding gradients. The gradient comes in parts (a table
 * gathered in several places has one per place): part i holds grads[i].n >= 0 rows
 * of `width`, its row k belonging to table row grads[i].rows[k]. Duplicate rows are
 * summed first, in the order of the parts taken end to end, so each touched table
 * row gets exactly one update; the parts are read where they are, never copied
 * together. The result is the dense update's with the rows scattered into a zero
 * gradient: plain SGD (no momentum, no decay) touches only the rows read; Adam,
 * AdamW and SGD with momentum or weight decay also update every other row with a
 * zero gradient (m, v and momentum decay, decay shrinks it), as PyTorch's dense
 * optimizers do, in the same pass. scratch: rt_rows_scratch_bytes(rows of all
 * parts, width) bytes, or NULL to let the runtime allocate; returns false only when
 * that allocation fails. Rows out of [0, table_rows) are ignored. With a pool of 2+
 * threads a large update is split by table row (each row updated by one thread from
 * the same sum): the result is bit-identical at any thread count. pool NULL: the
 * calling thread. */
typedef struct rt_row_grads {
    const int32_t *rows;
    const float *grad;
    int64_t n;
} rt_row_grads;
size_t rt_rows_scratch_bytes(int64_t n_rows, int64_t width);
bool rt_update_sgd_rows(rt_pool *pool, float *table, int64_t table_rows, int64_t width,
                        const rt_row_grads *grads, int n_grads, float *mom, float lr, float momentum,
                        float weight_decay, void *scratch);
bool rt_update_adam_rows(rt_pool *pool, float *table, int64_t table_rows, int64_t width,
                         const rt_row_grads *grads, int n_grads, float *m, float *v, float lr,
                         float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                         int64_t step, void *scratch);

/* Learning-rate schedules. step is 0-based, total the stage's step count.
 * Every kind first warms up linearly over `warmup` steps (lr*(step+1)/warmup, so
 * step warmup-1 runs at lr); linear then goes from lr to lr*to over the remaining
 * steps (step s at lr + (lr*to - lr)*(s - warmup)/(total - warmup)), cosine
 * follows half a cosine from lr to lr*to over them; constant stays at lr. A run
 * shorter than its warm-up ends still warming up. */
enum { RT_SCHED_CONSTANT, RT_SCHED_LINEAR, RT_SCHED_COSINE };
float rt_schedule_lr(int kind, double lr, int64_t step, int64_t total, int64_t warmup, double to);

/* ============================================================ thread pool */

/* A pool of n threads in all: the caller plus n - 1 workers that sleep between
 * jobs. rt_parallel_for splits [0, n) into at most `threads` contiguous ranges,
 * the caller runs the first; pool NULL (or a call from inside a job) runs inline.
 * Thread policy: the pool is the step's only parallelism. rt_pool_create sets
 * OpenBLAS to one thread (for the whole process), and rt_sgemm splits a large
 * product over the pool as one-thread sgemm calls on blocks of C, so a step never
 * runs more threads than the pool has. */
rt_pool *rt_pool_create(int threads);
void rt_pool_destroy(rt_pool *pool);
int rt_pool_threads(const rt_pool *pool);
/* How many rt_parallel_for calls (rt_sgemm's splits included) have run on more
 * than one of the pool's threads; read it from the thread that hands out the jobs. */
uint64_t rt_pool_jobs(const rt_pool *pool);
/* A side job: fn(ctx, 0, 1) runs on one worker while the caller goes on, until
 * rt_pool_side_wait (the trainer fills the next batch so while a step that posts
 * no jobs of its own runs). An rt_parallel_for meanwhile first waits for it.
 * Returns false, and runs nothing, on a pool of one thread, a NULL pool or inside
 * a job; the caller then does the work itself. Side jobs are not counted by
 * rt_pool_jobs. rt_pool_side_wait returns at once when none is running. */
bool rt_pool_side_start(rt_pool *pool, rt_range_fn fn, void *ctx);
void rt_pool_side_wait(rt_pool *pool);
/* Whether a side job is still running (or still waiting for its worker). */
bool rt_pool_side_running(rt_pool *pool);

/* C = op(A) op(B), row-major, C is M x N, the inner dimension K (generated code's
 * matrix products). With a pool of 2+ threads it is split by rows of C (or
 * columns, when N > M) into p = min(threads, M N K / 2^22, ceil(max(M, N) / 16))
 * blocks, edges on multiples of 16, when p >= 2 and max(M, N) >= 32 (each part
 * keeps 2^22 multiply-adds: pool.c's cost model); otherwise one rt_gemm
 * call. K is never split, but the library picks its kernel per call by shape, so a split
 * product may differ from the unsplit one in the last bits: by at most
 * 2 K u / (1 - K u) sum_k |a_ik| |b_kj| (+ 2 K 2^-126), u = 2^-24, per element
 * (docs/runtime.md, Determinism). Bit-identical for a given thread count. */
void rt_sgemm(rt_pool *pool, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
              const float *A, int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc);
/* G products C_g = op(A_g) op(B_g), A_g = A + g stride_a (stride 0: one matrix for every
 * g), likewise B_g and C_g; the rest as rt_sgemm. Products that rt_sgemm would split run
 * so, one by one; the others run on the calling thread as one rt_gemm_batched. */
void rt_sgemm_batched(rt_pool *pool, int trans_a, int trans_b, int64_t G, int64_t M, int64_t N, int64_t K,
                      const float *A, int64_t lda, int64_t stride_a, const float *B, int64_t ldb, int64_t stride_b,
                      float *C, int64_t ldc, int64_t stride_c);
/* rt_sgemm_batched's products on the calling thread (beta 0): one call of oneDNN's matmul
 * primitive over the batch (made once per shape and strides, per thread) where rt_gemm runs
 * on oneDNN, else a loop of rt_gemm. */
void rt_gemm_batched(bool trans_a, bool trans_b, int64_t G, int64_t M, int64_t N, int64_t K, const float *A,
                     int64_t lda, int64_t stride_a, const float *B, int64_t ldb, int64_t stride_b, float *C,
                     int64_t ldc, int64_t stride_c);
/* One product on the calling thread: C = op(A) op(B) + beta C, row-major (gemm.c: oneDNN's
 * sgemm where libdnnl.so.2 loads and RLC_GEMM is not "openblas", OpenBLAS's otherwise). */
void rt_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
             const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* "oneDNN" or "OpenBLAS": the library rt_gemm runs on in this process. */
const char *rt_gemm_library(void);
/* Opens the product library and runs its first product (oneDNN generates its kernels
 * then: ~50 ms together) on a thread of its own, so that a trainer's first step does not
 * wait for them; rt_gemm_prepare_finish waits for that thread (call it before the process
 * ends). Both may be called any number of times, from any thread. */
void rt_gemm_prepare(void);
void rt_gemm_prepare_finish(void);
/* Whether the product library is open (by a product, rt_gemm_library or rt_gemm_prepare). */
bool rt_gemm_loaded(void);
/* A symbol of the oneDNN that rt_gemm loaded, or NULL where it runs on OpenBLAS (other
 * oneDNN primitives are used only where rt_gemm uses oneDNN, so one switch picks both). */
void *rt_onednn_symbol(const char *name);
/* Sets the calling thread to one OpenMP thread before it calls oneDNN (once per thread);
 * only after rt_onednn_symbol returned a symbol. */
void rt_onednn_one_thread(void);
/* A buffer for a step's workspace or optimizer state (bigmem.c): from 2 MiB up, aligned
 * to 2 MiB and advised onto transparent huge pages, else 64-byte aligned; zeroed when
 * `zero`. NULL when out of memory; release it with free(). */
void *rt_alloc_big(size_t bytes, bool zero);
/* Measurement: rt_sgemm_profile(true) zeroes and starts counting the wall time
 * spent inside rt_sgemm (all threads' calls, summed from the caller's view);
 * rt_sgemm_seconds returns it and the number of calls, rt_sgemm_split_calls how
 * many of those calls were split over the pool. */
void rt_sgemm_profile(bool on);
double rt_sgemm_seconds(uint64_t *calls);
uint64_t rt_sgemm_split_calls(void);

/* ============================================================ many processes (mpi.c) */

/* docs/mpi.md. MPI is started only in a process launched by mpirun (Open MPI's
 * OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE in the environment): alone, a
 * program never touches MPI and the size is 1, the rank 0. */
bool rt_mpi_start(int *argc, char ***argv, rt_error *err);
void rt_mpi_finish(void);
/* Ends every process of the job with that status (nothing when alone). */
void rt_mpi_abort(int status);
int rt_mpi_size(void);
int rt_mpi_rank(void);
/* true when ok is true on every process (a collective: every process calls it). */
bool rt_mpi_all_ok(bool ok);
/* Prints a run's error as `WHO: error: MSG` (another process than rank 0 says
 * which it is; an error found `everywhere` only rank 0 prints), then, when
 * other processes may be waiting on this one, ends the whole job. */
void rt_mpi_report(FILE *to, const char *who, const rt_error *err);
/* Time and bytes in rt_collective since the last rt_mpi_profile call. */
void rt_mpi_profile(bool on);
double rt_mpi_seconds(uint64_t *bytes);

/* The collectives of a step sharded over `procs` processes (each process holds
 * `rows` rows of each of `blocks` blocks along the batch axis of a tensor viewed
 * as [outer, blocks * rows, inner], 4-byte elements; globally block j holds every
 * process's rows in rank order). ALLREDUCE: out = the sum over processes of in
 * (f32, n = outer*blocks*rows*inner). ALLGATHER: local in -> global out.
 * REDUCE_SCATTER: global f32 in -> this process's rows of the sum over processes.
 * SHARD: global in -> this process's rows. UNSHARD: local in -> global out with
 * zeros in the other processes' rows. Results are bit-identical on every process;
 * ALLREDUCE sums each element in rank order. */
enum { RT_COLL_ALLREDUCE, RT_COLL_ALLGATHER, RT_COLL_REDUCE_SCATTER, RT_COLL_SHARD, RT_COLL_UNSHARD };
void rt_collective(int op, int64_t procs, void *out, const void *in, int64_t outer, int64_t blocks,
                   int64_t rows, int64_t inner);
/* ALLREDUCE without blocking (the compiled steps' all-reduces, docs/mpi.md): start
 * begins out = the sum over the processes of the n values at in; rt_mpi_progress moves
 * every begun one on (the step calls it between kernels, since MPI moves data only
 * inside its calls); wait returns once out holds the sums. Until then neither in nor
 * out may be touched. out may be in (the steps sum a bucket in place). Every element is summed in rank order (p0 + p1 + ...), as
 * RT_COLL_ALLREDUCE does, so the bits do not depend on how values are split into calls. */
void rt_allreduce_start(int64_t procs, float *out, const float *in, int64_t n);
void rt_mpi_progress(void);
void rt_allreduce_wait(float *out);
/* A step's workspace (the buffers rt_allreduce_start sums, at the same offsets on
 * every process): alone or across nodes rt_alloc_big's (free()d); when every process
 * runs on one node, this process's part of a shared-memory window, through which the
 * all-reduces read the other processes' buffers where they lie (docs/mpi.md). A
 * collective under mpirun: every process allocates and frees its workspaces in the
 * same order, with the same sizes. NULL when out of memory. */
void *rt_mpi_workspace_alloc(size_t bytes);
/* Whether the workspaces are in shared memory (RLC_MPI_SHM=0 turns it off). */
bool rt_mpi_shared_memory(void);
void rt_mpi_workspace_free(void *p);
/* Sliced updates (docs/mpi.md): when the workspaces are in shared memory and
 * RLC_MPI_SLICED=1 asks for it on every process, the parameters and optimizer
 * state are one copy in shared memory too, and a step sharded over the processes
 * updates only this process's slice of each of them, between two fences. Whether so: */
bool rt_mpi_sliced_updates(void);
/* Zeroed memory for parameters or optimizer state: with sliced updates one copy
 * shared by the node's processes (a collective, as rt_mpi_workspace_alloc; only
 * process 0 should write it outside a step), else rt_alloc_big's. NULL when out of
 * memory. */
void *rt_mpi_param_alloc(size_t bytes);
void rt_mpi_param_free(void *p);
/* This process's slice [bound(n, align, 0), bound(n, align, 1)) of an update over
 * [0, n): balanced, ends rounded down to `align` (but the last process's end is
 * n); all of [0, n) without sliced updates. */
int64_t rt_mpi_update_bound(int64_t n, int64_t align, int32_t end);
/* Returns once every process has reached it as often (no-op without sliced
 * updates): the step calls it before its first update (nobody still reads the
 * parameters) and after its last (every slice is written); the trainer after it
 * writes parameters outside a step. */
void rt_mpi_update_fence(void);
/* rt_parallel_for over [lo, hi) instead of [0, n): a slice's update on the pool. */
void rt_parallel_slice(rt_pool *pool, int64_t lo, int64_t hi, rt_range_fn fn, void *ctx);
/* The same on doubles: the interpreter's values (rlc run --interp, rlc gradcheck). */
void rt_collective_f64(int op, int64_t procs, double *out, const double *in, int64_t outer, int64_t blocks,
                       int64_t rows, int64_t inner);

/* ============================================================ random numbers */

/* Philox-4x32-10 (Salmon et al., SC'11): 4 x 32 random bits from a 128-bit counter
 * and a 64-bit key. The runtime's scheme: key = rt_philox_key(seed, stream),
 * counter = (block index i/4 as 64 bits, step as 64 bits). */
void rt_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
void rt_philox_key(uint64_t seed, uint64_t stream, uint32_t key[2]);
/* FNV-1a of a string: the stream of a named parameter's initialisation. */
uint64_t rt_hash_name(const char *s);

/* A sequential stream over the same generator, for shuffling and samplers:
 * draw k is lane k%4 of block k/4 at counter step `step`. */
typedef struct rt_rng {
    uint32_t key[2];
    uint64_t step;
    uint64_t next;          /* index of the next 32-bit draw */
    uint32_t block[4];
} rt_rng;
void rt_rng_init(rt_rng *r, uint64_t seed, uint64_t stream, uint64_t step);
void rt_rng_seek(rt_rng *r, uint64_t index);      /* the next draw is draw `index` */
uint32_t rt_rng_u32(rt_rng *r);
double rt_rng_uniform(rt_rng *r);                 /* [0, 1), 53 bits */
uint64_t rt_rng_below(rt_rng *r, uint64_t n);     /* uniform in [0, n), n > 0 */
double rt_rng_normal(rt_rng *r);                  /* standard normal, Box-Muller */
void rt_rng_shuffle(rt_rng *r, int64_t *items, int64_t n); /* Fisher-Yates */

/* Parameter initialisation. The draw uses (seed, rt_hash_name(name)), so a
 * parameter's initial value depends on its name and the seed only, never on the
 * order parameters are created in. Fans: rank 1 -> fan_in = fan_out = dims[0];
 * rank 4 (a convolution weight [out, in, kh, kw]) -> fan_in = in*kh*kw, fan_out = out*kh*kw;
 * other ranks >= 2 -> fan_in = product of all dims but the last, fan_out = the last. */
typedef enum {
    RT_INIT_GLOROT,     /* uniform(-l, l), l = sqrt(6 / (fan_in + fan_out)) */
    RT_INIT_HE,         /* normal(0, sqrt(2 / fan_in)) */
    RT_INIT_ZEROS,
    RT_INIT_ONES,
    RT_INIT_NORMAL,     /* normal(a, b): mean a, std b */
    RT_INIT_UNIFORM,    /* uniform(a, b) */
    RT_INIT_VALUE,      /* every element = a */
} rt_init_kind;
void rt_init_param(float *p, const int64_t *dims, int rank, rt_init_kind kind, double a, double b,
                   uint64_t seed, const char *name);

/* ============================================================ programs and the trainer */

/* What the compiler hands the trainer: datasets, stages, and per stage its
 * parameters, inputs, reports, optimizer and compiled step. rlc run (JIT), the
 * interpreter mode and the standalone trainers of rlc build all fill one of these
 * and call rt_run_program. */
typedef enum { RT_OPT_SGD, RT_OPT_ADAM, RT_OPT_ADAMW } rt_opt_kind;

typedef struct rt_optimizer {
    rt_opt_kind kind;
    double lr, momentum, beta1, beta2, eps, weight_decay;
    int schedule;                      /* RT_SCHED_* */
    int64_t warmup;
    double to;                         /* linear/cosine: the final rate, a fraction of lr */
} rt_optimizer;

typedef struct rt_param_spec {
    const char *name;                  /* "enc.dense0.w": shared across stages by name */
    int rank;
    int64_t dims[RT_MAX_RANK];
    rt_init_kind init;
    double a, b;                       /* normal(a, b), uniform(a, b), value a */
    bool trained;                      /* false: frozen here, no optimizer state */
} rt_param_spec;

/* What a stage's end hook sees: the stage has run (its last epoch, or its eval). */
typedef struct rt_stage_end {
    const char *dir;                   /* RUNS/STAGE, created: where pictures and exports go */
    rt_dataset *data;                  /* the stage's dataset: the hook may start an epoch and fill
                                          batches of any fields (the stage is done with it) */
    int64_t limit;                     /* the stage's examples per epoch (0: all) */
    uint64_t seed;
    float *const *params;              /* per rt_stage param, as the stage left them */
    FILE *out;                         /* where to print what it found; NULL: print nothing */
} rt_stage_end;

/* What the values of an i32 input index: they must lie in [0, limit). */
typedef struct rt_index_limit {
    int64_t limit;                     /* 0: not used as an index, nothing to check */
    const char *use;                   /* for the message: "a row of word.e (12 rows) at f.rl:5:12" */
} rt_index_limit;

/* A stage's `sample` setting (docs/language.md, Extensions): continuations of a
 * prompt drawn from a next-token model when the stage has run. The compiler
 * hands a forward graph of its own (eval-like: dropout off) whose output is the
 * logits [B, positions, vocab]; position t predicts the token after window
 * position t. */
typedef struct rt_sampler {
    const char *prompt;
    int64_t tokens, count;             /* tokens drawn per sample; samples (the batch) */
    double temperature;                /* 0: always the most likely token */
    int64_t top_k;                     /* > 0: draw among the k most likely tokens only */
    int64_t positions, vocab;          /* the logits' last two dims */
    bool char_unit;                    /* tokens are bytes: printed without spaces between */
    int window;                        /* the input that takes the token window */
    int n_params;
    const rt_param_spec *params;       /* fetched by name from the stage's */
    int n_inputs;
    const char *const *inputs;         /* dataset field names, in graph input order */
    void *user;
    /* Runs the graph on ctx and writes the logits, ctx->B x positions x vocab. */
    void (*logits)(void *user, rt_step_ctx *ctx, float *out);
    size_t (*workspace_bytes)(void *user, int64_t B);
} rt_sampler;

/* Draws s->count continuations of s->prompt, each token from the logits at the
 * last position of the context (the last `positions` tokens of prompt and draws,
 * placed at the window's start), with the Philox stream of (seed, sample), so a
 * seed gives the same text at any thread count; prints them to out (when not
 * NULL) and writes DIR/samples.txt. params: per s->params. */
bool rt_sample_run(const rt_sampler *s, const char *stage, rt_dataset *ds, int64_t limit, uint64_t seed,
                   float *const *params, rt_pool *pool, const char *dir, FILE *out, rt_error *err);

typedef struct rt_stage {
    const char *name;
    bool train;                        /* false: eval */
    int dataset;                       /* index into rt_program.datasets */
    int64_t batch;
    int64_t epochs, steps;             /* train: one of them > 0 (steps wins) */
    int64_t limit;                     /* > 0: only the first `limit` examples */
    uint64_t seed;
    const char *load, *save;           /* parameter files, or NULL */
    int64_t save_every;                /* > 0: `save` is also written every this many steps */
    int64_t min_rows;                  /* train: a batch of fewer rows is an error found before the
                                          first step (batch_norm's batch variance needs 2) */
    bool products;                     /* its step runs matrix products: the trainer opens their
                                          library before it loads the data (rt_gemm_prepare) */
    int validate;                      /* index of an eval stage run after each epoch, or -1 */
    int n_freeze;
    const char *const *freeze;         /* components ("enc"): their parameters ("enc.*") are
                                          not trained here whatever rt_param_spec.trained says */
    int n_params;
    const rt_param_spec *params;       /* in graph order: rt_step_ctx.params follows it */
    int n_inputs;
    const char *const *inputs;         /* dataset field names, in graph input order */
    const rt_index_limit *input_limits; /* per input, or NULL: checked against the data before
                                          the first stage runs */
    int n_reports;
    const char *const *reports;
    rt_optimizer opt;
    void *user;                        /* handed back to the three functions below */
    void (*step)(void *user, rt_step_ctx *ctx);
    size_t (*workspace_bytes)(void *user, int64_t B);
    /* Called when a step's loss is non-finite, with that step's context (inputs as
     * fed, parameters as they are after it), or when a trained parameter is found
     * non-finite at an epoch's end, with the epoch's last step; writes what is to
     * blame (the compiler reruns the step in its interpreter to find the first bad
     * node). May be NULL. */
    bool (*explain_nonfinite)(void *user, const rt_step_ctx *ctx, char *msg, size_t cap);
    /* Called once when the stage has run (not when it runs as another stage's
     * validation): pictures, exports and neighbour lists. May be NULL. */
    bool (*at_end)(void *user, const rt_stage_end *end, rt_error *err);
    const rt_sampler *sample;          /* `sample:` continuations printed at the end, or NULL */
} rt_stage;

/* A dim the compiler read from the data (`brown.vocab`) and compiled into the
 * steps: a standalone trainer checks it against the data it is given, since a
 * different value would make every shape wrong. */
typedef struct rt_dim_check {
    int dataset;                       /* index into rt_program.datasets */
    const char *property;              /* as rt_dataset_property names it */
    int64_t value;                     /* the value the steps were compiled for */
} rt_dim_check;

typedef struct rt_program {
    const char *name;                  /* the .rl file, for messages and metadata */
    uint64_t hash;                     /* of the program: stored in parameter files */
    int n_datasets;
    const rt_dataset_spec *datasets;
    int n_stages;
    const rt_stage *stages;
    int procs;                         /* the processes its steps were sharded for (docs/mpi.md);
                                          0 or 1: one process */
} rt_program;

typedef struct rt_run_options {
    const char *stage;                 /* run only this stage; NULL: all, in order */
    int64_t epochs;                    /* > 0: overrides the epochs of train stages */
    int64_t steps;                     /* > 0: every train stage runs this many steps (wins) */
    int64_t limit;                     /* > 0: at most this many examples per epoch in every
                                          stage (the smaller of it and the stage's limit) */
    int threads;                       /* <= 0: 1 */
    bool override_seed;
    uint64_t seed;
    bool quiet;                        /* no progress and no epoch lines */
    /* Continue every train stage from its `save` file where that records an
     * unfinished run of the same stage; skip a stage whose file records a finished
     * run (docs/runtime.md, Resume). */
    bool resume;
    FILE *out;                         /* NULL: stdout */
    const char *runs_dir;              /* metrics go to RUNS/STAGE/metrics.csv; NULL: "runs" */
    /* Called after every epoch of a train stage and once per eval stage run. */
    void (*on_epoch)(void *user, const char *stage, int64_t epoch, double loss,
                     const double *reports, int n_reports);
    void *on_epoch_user;
    /* Not NULL: one line `STAGE STEP LOSS` (loss as %.9g, exact for a float) per
     * train step, to compare runs bit for bit (rlc run --log-steps, rlc build). */
    FILE *step_log;
    /* Dims the steps were compiled for, checked against the data before the first
     * stage runs (those of datasets the running stages use). */
    int n_dim_checks;
    const rt_dim_check *dim_checks;
} rt_run_options;

bool rt_run_program(const rt_program *prog, const rt_run_options *options, rt_error *err);

/* The command line of a standalone trainer built by `rlc build`: its main() is
 * `return rt_trainer_main(&program, dim_checks, n_dim_checks, argc, argv);`. Parses --stage, --epochs, --steps,
 * --threads, --seed, --data-path, --load, --save, --log-steps, --resume, --quiet and --help
 * (which describes the program's datasets and stages), runs the program and
 * returns the exit status (0 done, 1 a run error, 2 a usage error). */
int rt_trainer_main(const rt_program *prog, const rt_dim_check *dim_checks, int n_dim_checks,
                    int argc, char **argv);

/* Writes n grayscale images [n, h*w] (values in [0, 1], clamped) as one PNG grid
 * of `cols` columns with a 1-pixel gap. */
bool rt_png_grid(const char *path, const float *images, int64_t n, int64_t h, int64_t w,
                 int64_t cols, rt_error *err);

/* Writes a w x h RGB image (3 bytes a pixel, rows top to bottom) as a PNG. */
bool rt_png_rgb(const char *path, const unsigned char *rgb, int64_t w, int64_t h, rt_error *err);

#endif
