/* optim.c — optimizer updates and learning-rate schedules: plain loops that the
 * generated code and the IR interpreter both call, so they agree by construction. */
#include "rlrt.h"

#include <math.h>

#define RT_PI 3.14159265358979323846
#include <stdlib.h>
#include <string.h>

void rt_update_sgd(float *param, const float *grad, float *mom, int64_t n, float lr,
                   float momentum, float weight_decay) {
    if (mom && momentum != 0.0f) {
        for (int64_t i = 0; i < n; i++) {
            float g = grad[i] + weight_decay * param[i];
            mom[i] = momentum * mom[i] + g;
            param[i] -= lr * mom[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) param[i] -= lr * (grad[i] + weight_decay * param[i]);
    }
}

/* Bias corrections 1/(1-b^t) folded into one step size and one eps, as Kingma & Ba's
 * "efficient" form: p -= lr_t * m / (sqrt(v) + eps_t), lr_t = lr*sqrt(1-b2^t)/(1-b1^t),
 * eps_t = eps*sqrt(1-b2^t). This equals lr * m^ / (sqrt(v^) + eps) exactly. */
typedef struct adam_coef {
    float b1, b2, one_b1, one_b2, lr_t, eps_t, decay;
} adam_coef;

static adam_coef adam_coefs(float lr, float beta1, float beta2, float eps, float wd,
                            bool decoupled, int64_t step) {
    double t = (double)step + 1.0;
    double c1 = 1.0 - pow(beta1, t), c2 = sqrt(1.0 - pow(beta2, t));
    adam_coef c = {beta1, beta2, 1.0f - beta1, 1.0f - beta2, (float)(lr * c2 / c1),
                   (float)(eps * c2), decoupled ? 1.0f - lr * wd : 1.0f};
    return c;
}

static inline void adam_one(float *p, float g, float *m, float *v, const adam_coef *c) {
    *m = c->b1 * *m + c->one_b1 * g;
    *v = c->b2 * *v + c->one_b2 * g * g;
    *p = *p * c->decay - c->lr_t * *m / (sqrtf(*v) + c->eps_t);
}

void rt_update_adam(float *param, const float *grad, float *m, float *v, int64_t n, float lr,
                    float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                    int64_t step) {
    adam_coef c = adam_coefs(lr, beta1, beta2, eps, weight_decay, decoupled, step);
    float l2 = decoupled ? 0.0f : weight_decay;
    for (int64_t i = 0; i < n; i++) adam_one(&param[i], grad[i] + l2 * param[i], &m[i], &v[i], &c);
}

/* Scratch layout: 2 x n_rows (row, position) pairs (the radix sort's two buffers),
 * then one summed row of width for each part the update may be split into. */
typedef struct row_ref {
    int32_t row;
    int32_t pos;
} row_ref;

/* Parts a sparse update is split into at most, and the work (rows x width) each
 * part must keep. The gradient rows were just written, and the table rows just
 * read by the lookup, on the calling thread: in its core's cache. Another thread
 * that updates some of them moves each of their cache lines over (~100 ns each,
 * ~0.7 us for a 100-float row, against ~0.05 us to update it in place), and the
 * next step's lookup moves them back. So a split pays only when the rows no
 * longer fit that cache anyway: each part keeps 2^18 floats (1 MiB, a Zen 5
 * core's L2). Skip-gram's context update (256 x 6 rows of 100) stays on one
 * thread; at 2^15 floats a part it was split, and its step ran 2x slower at 2
 * threads than at 1 (docs/performance.md). */
enum { ROWS_MAX_PARTS = 8, ROWS_PART_FLOATS = 1 << 18 };

size_t rt_rows_scratch_bytes(int64_t n_rows, int64_t width) {
    return 2 * (size_t)n_rows * sizeof(row_ref) + ROWS_MAX_PARTS * (size_t)width * sizeof(float);
}

/* Groups the refs by row in linear time: a least-significant-digit radix sort on the
 * row's four bytes (as unsigned, so out-of-range negative rows gather at the end).
 * Each pass is stable, so equal rows keep their position order and the sums below
 * add duplicates in the order of the gradient's rows, as before. A byte that every
 * row shares is skipped: a table of under 65,536 rows takes two passes. Returns the
 * buffer that holds the result (a or tmp). */
static row_ref *radix_sort_rows(row_ref *a, row_ref *tmp, int64_t n) {
    for (int shift = 0; shift < 32; shift += 8) {
        int64_t count[256] = {0};
        for (int64_t k = 0; k < n; k++) count[((uint32_t)a[k].row >> shift) & 255]++;
        if (count[((uint32_t)a[0].row >> shift) & 255] == n) continue;
        int64_t at = 0;
        for (int d = 0; d < 256; d++) {
            int64_t c = count[d];
            count[d] = at;
            at += c;
        }
        for (int64_t k = 0; k < n; k++) tmp[count[((uint32_t)a[k].row >> shift) & 255]++] = a[k];
        row_ref *t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

/* sum += g over n floats; restrict lets the loop vectorize. */
static inline void add_row(float *restrict sum, const float *restrict g, int64_t n) {
    for (int64_t c = 0; c < n; c++) sum[c] += g[c];
}

/* Calls apply(table row, summed gradient) once per distinct valid row. A row that
 * occurs once is applied straight from the gradient (its "sum" is that row). */
typedef void (*row_apply_fn)(void *ctx, int64_t row, const float *g, int64_t width);

/* The arrays an update writes row by row (the table, then the optimizer's state):
 * their rows are fetched ahead of use (see apply_groups). */
enum { ROWS_MAX_ARRAYS = 3 };

/* One sparse update after the sort: the sorted refs, and what each group of
 * equal rows is applied with. */
typedef struct rows_job {
    const row_ref *refs;
    int64_t n, table_rows, width;
    const rt_row_grads *grads; /* the gradient's parts; ref positions count them end to end */
    float *sums; /* one row of width per part */
    int64_t parts;
    row_apply_fn apply;
    void *ctx;
    float *arrays[ROWS_MAX_ARRAYS]; /* NULL past the last */
} rows_job;

/* The gradient row at position pos of the parts taken end to end. */
static inline const float *grad_row(const rows_job *j, int64_t pos) {
    const rt_row_grads *g = j->grads;
    while (pos >= g->n) pos -= (g++)->n;
    return g->grad + pos * j->width;
}

/* Refs ahead of the one being applied whose gradient row and table rows are
 * prefetched: the rows are sorted by table row, so they come at ascending but
 * scattered addresses that the hardware prefetcher does not follow, and the
 * step's lookups and gradients (skip-gram: 1.8 MB at batch 256) have pushed
 * them out of the core's L2 since the lookup read them. Eight refs keep about
 * 100 lines in flight, enough to cover a miss to L3 or memory. */
enum { ROWS_PREFETCH_AHEAD = 8 };

static inline void prefetch_row(const float *row, int64_t width, bool for_write) {
    const char *p = (const char *)row, *end = (const char *)(row + width);
    for (; p < end; p += 64) {
        if (for_write) __builtin_prefetch(p, 1, 3);
        else __builtin_prefetch(p, 0, 3);
    }
    /* the row's last line when it does not start on a line */
    if (for_write) __builtin_prefetch(end - 1, 1, 3);
    else __builtin_prefetch(end - 1, 0, 3);
}

/* Fetches the rows ref k will read and write, when it is a valid ref of the job. */
static inline void prefetch_ref(const rows_job *j, int64_t k) {
    if (k >= j->n) return;
    int64_t row = j->refs[k].row;
    prefetch_row(grad_row(j, j->refs[k].pos), j->width, false);
    if (row < 0 || row >= j->table_rows) return;
    for (int a = 0; a < ROWS_MAX_ARRAYS && j->arrays[a]; a++) prefetch_row(j->arrays[a] + row * j->width, j->width, true);
}

/* The first ref at or after k that starts a group of equal rows. */
static int64_t group_start(const row_ref *refs, int64_t n, int64_t k) {
    while (k > 0 && k < n && refs[k].row == refs[k - 1].row) k++;
    return k;
}

/* Applies the groups that start in [from, to), summing duplicates into sum. */
static void apply_groups(const rows_job *j, int64_t from, int64_t to, float *sum) {
    const row_ref *refs = j->refs;
    int64_t width = j->width;
    for (int64_t k = from; k < from + ROWS_PREFETCH_AHEAD && k < to; k++) prefetch_ref(j, k);
    for (int64_t k = from; k < to;) {
        int32_t row = refs[k].row;
        const float *g0 = grad_row(j, refs[k].pos);
        int64_t next = k + 1;
        if (k + ROWS_PREFETCH_AHEAD < to) prefetch_ref(j, k + ROWS_PREFETCH_AHEAD);
        if (next < j->n && refs[next].row == row) {
            memcpy(sum, g0, (size_t)width * sizeof(float));
            for (; next < j->n && refs[next].row == row; next++) {
                if (next + ROWS_PREFETCH_AHEAD < to) prefetch_ref(j, next + ROWS_PREFETCH_AHEAD);
                add_row(sum, grad_row(j, refs[next].pos), width);
            }
            g0 = sum;
        }
        if (row >= 0 && row < j->table_rows) j->apply(j->ctx, row, g0, width);
        k = next;
    }
}

/* Parts [lo, hi) of the update. Part p owns the groups that start in
 * [n p / parts, n (p + 1) / parts), each boundary moved forward to a group's
 * start, so every table row is updated by one part, from the same sum in the
 * same order whatever the number of parts: the result is bit-identical at any
 * thread count (owner computes). */
static void rows_part(void *ctx, int64_t lo, int64_t hi) {
    const rows_job *j = ctx;
    for (int64_t p = lo; p < hi; p++) {
        int64_t from = group_start(j->refs, j->n, j->n * p / j->parts);
        int64_t to = group_start(j->refs, j->n, j->n * (p + 1) / j->parts);
        apply_groups(j, from, to, j->sums + p * j->width);
    }
}

/* An update's job: the gradient's rows (its parts end to end) sorted in scratch (allocated into *owned when
 * scratch is NULL; false when that fails), in parts of ROWS_PART_FLOATS of the `work`
 * floats, at most one a thread. */
static bool rows_job_init(rows_job *j, rt_pool *pool, int64_t work, int64_t table_rows, int64_t width,
                          const rt_row_grads *grads, int64_t n_rows, void *scratch, void **owned,
                          row_apply_fn apply, void *ctx, float *const *arrays) {
    *owned = NULL;
    if (!scratch) {
        *owned = malloc(rt_rows_scratch_bytes(n_rows, width));
        if (!*owned) return false;
        scratch = *owned;
    }
    row_ref *buf = scratch;
    for (int64_t k = 0, part = 0; k < n_rows; part++)
        for (int64_t i = 0; i < grads[part].n; i++, k++) buf[k] = (row_ref){grads[part].rows[i], (int32_t)k};
    *j = (rows_job){n_rows > 0 ? radix_sort_rows(buf, buf + n_rows, n_rows) : buf, n_rows, table_rows, width,
                    grads, (float *)(buf + 2 * n_rows), 1, apply, ctx, {NULL}};
    for (int a = 0; a < ROWS_MAX_ARRAYS && arrays[a]; a++) j->arrays[a] = arrays[a];
    int64_t worth = work / ROWS_PART_FLOATS, threads = rt_pool_threads(pool);
    if (threads > 1 && worth >= 2) {
        j->parts = threads < ROWS_MAX_PARTS ? threads : ROWS_MAX_PARTS;
        if (j->parts > worth) j->parts = worth;
    }
    return true;
}

static inline bool for_each_summed_row(rt_pool *pool, int64_t table_rows, int64_t width,
                                       const rt_row_grads *grads, int64_t n_rows, void *scratch,
                                       row_apply_fn apply, void *ctx, float *const *arrays) {
    if (n_rows <= 0) return true;
    rows_job j;
    void *owned;
    if (!rows_job_init(&j, pool, n_rows * width, table_rows, width, grads, n_rows, scratch, &owned, apply,
                       ctx, arrays))
        return false;
    rt_parallel_for(pool, j.parts, rows_part, &j);
    free(owned);
    return true;
}

/* The dense update of a whole table from its sparse gradient, for optimizers with
 * state or decay (PyTorch's Adam, AdamW and SGD with momentum or weight decay update
 * every row each step: m and v decay, a row with history keeps moving, decay
 * shrinks it). Touched rows get apply(row, summed gradient), the runs of rows in
 * between untouched(lo, hi): the dense formulas with a zero gradient, computed in
 * place, so the table's gradient is never scattered into a zeroed buffer. */
typedef void (*rows_untouched_fn)(void *ctx, int64_t lo, int64_t hi, int64_t width);

typedef struct dense_rows_job {
    rows_job rows;
    rows_untouched_fn untouched;
} dense_rows_job;

/* The first sorted ref whose row is at or past `row` (refs sorted as unsigned). */
static int64_t first_ref_at(const row_ref *refs, int64_t n, int64_t row) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((uint32_t)refs[mid].row < (uint64_t)row) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Parts [lo, hi) of the dense update: part p owns table rows
 * [R p / parts, R (p + 1) / parts), so each row is updated by one part, from the
 * same sum in the same order at any number of parts (bit-identical). */
static void dense_rows_part(void *ctx, int64_t lo, int64_t hi) {
    const dense_rows_job *d = ctx;
    const rows_job *j = &d->rows;
    for (int64_t p = lo; p < hi; p++) {
        int64_t first = j->table_rows * p / j->parts, end = j->table_rows * (p + 1) / j->parts;
        int64_t from = first_ref_at(j->refs, j->n, first), to = first_ref_at(j->refs, j->n, end);
        int64_t next_row = first;
        for (int64_t k = from; k < to; k = group_start(j->refs, j->n, k + 1)) {
            int64_t row = j->refs[k].row;
            if (row > next_row) d->untouched(j->ctx, next_row, row, j->width);
            apply_groups(j, k, k + 1, j->sums + p * j->width);
            next_row = row + 1;
        }
        if (end > next_row) d->untouched(j->ctx, next_row, end, j->width);
    }
}

static bool for_every_row(rt_pool *pool, int64_t table_rows, int64_t width, const rt_row_grads *grads,
                          int64_t n_rows, void *scratch, row_apply_fn apply, rows_untouched_fn untouched,
                          void *ctx, float *const *arrays) {
    if (table_rows <= 0) return true;
    dense_rows_job d = {.untouched = untouched};
    void *owned;
    if (!rows_job_init(&d.rows, pool, table_rows * width, table_rows, width, grads, n_rows, scratch, &owned,
                       apply, ctx, arrays))
        return false;
    rt_parallel_for(pool, d.rows.parts, dense_rows_part, &d);
    free(owned);
    return true;
}

/* The SGD formulas of rt_update_sgd on one row, with restrict so they vectorize
 * (a table row, its gradient and its momentum never overlap). */
static inline void sgd_row_update(float *restrict p, const float *restrict g, float *restrict mom,
                                  int64_t n, float lr, float momentum, float wd) {
    if (mom && momentum != 0.0f) {
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] + wd * p[i];
            mom[i] = momentum * mom[i] + gi;
            p[i] -= lr * mom[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
    }
}

/* sgd_row_update with a zero gradient, over n floats of the table (and of mom). */
static void sgd_zero_update(float *restrict p, float *restrict mom, int64_t n, float lr,
                            float momentum, float wd) {
    if (mom && momentum != 0.0f) {
        for (int64_t i = 0; i < n; i++) {
            mom[i] = momentum * mom[i] + (0.0f + wd * p[i]);
            p[i] -= lr * mom[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) p[i] -= lr * (0.0f + wd * p[i]);
    }
}

typedef struct sgd_rows_ctx {
    float *table, *mom;
    float lr, momentum, wd;
} sgd_rows_ctx;

static void sgd_row(void *ctx, int64_t row, const float *g, int64_t width) {
    sgd_rows_ctx *c = ctx;
    sgd_row_update(c->table + row * width, g, c->mom ? c->mom + row * width : NULL, width, c->lr,
                   c->momentum, c->wd);
}

static void sgd_rows_untouched(void *ctx, int64_t lo, int64_t hi, int64_t width) {
    sgd_rows_ctx *c = ctx;
    sgd_zero_update(c->table + lo * width, c->mom ? c->mom + lo * width : NULL, (hi - lo) * width,
                    c->lr, c->momentum, c->wd);
}

/* The rows of all the parts. */
static int64_t count_grad_rows(const rt_row_grads *grads, int n_grads) {
    int64_t n = 0;
    for (int i = 0; i < n_grads; i++) n += grads[i].n;
    return n;
}

bool rt_update_sgd_rows(rt_pool *pool, float *table, int64_t table_rows, int64_t width,
                        const rt_row_grads *grads, int n_grads, float *mom, float lr, float momentum,
                        float weight_decay, void *scratch) {
    sgd_rows_ctx c = {table, mom, lr, momentum, weight_decay};
    int64_t n_rows = count_grad_rows(grads, n_grads);
    float *arrays[ROWS_MAX_ARRAYS] = {table, mom && momentum != 0.0f ? mom : NULL, NULL};
    if ((mom && momentum != 0.0f) || weight_decay != 0.0f)
        return for_every_row(pool, table_rows, width, grads, n_rows, scratch, sgd_row, sgd_rows_untouched, &c,
                             arrays);
    return for_each_summed_row(pool, table_rows, width, grads, n_rows, scratch, sgd_row, &c, arrays);
}

typedef struct adam_rows_ctx {
    float *table, *m, *v;
    float l2;
    adam_coef coef;
} adam_rows_ctx;

static inline void adam_row_update(float *restrict p, const float *restrict g, float *restrict m,
                                   float *restrict v, int64_t n, float l2, const adam_coef *c) {
    for (int64_t i = 0; i < n; i++) adam_one(&p[i], g[i] + l2 * p[i], &m[i], &v[i], c);
}

static void adam_row(void *ctx, int64_t row, const float *g, int64_t width) {
    adam_rows_ctx *c = ctx;
    adam_row_update(c->table + row * width, g, c->m + row * width, c->v + row * width, width,
                    c->l2, &c->coef);
}

/* adam_row_update with a zero gradient over rows [lo, hi): m and v decay, the
 * table keeps moving by its history and takes its weight decay. */
static void adam_rows_untouched(void *ctx, int64_t lo, int64_t hi, int64_t width) {
    adam_rows_ctx *c = ctx;
    float *restrict p = c->table + lo * width, *restrict m = c->m + lo * width,
                    *restrict v = c->v + lo * width;
    for (int64_t i = 0, n = (hi - lo) * width; i < n; i++)
        adam_one(&p[i], 0.0f + c->l2 * p[i], &m[i], &v[i], &c->coef);
}

bool rt_update_adam_rows(rt_pool *pool, float *table, int64_t table_rows, int64_t width,
                         const rt_row_grads *grads, int n_grads, float *m, float *v, float lr,
                         float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                         int64_t step, void *scratch) {
    adam_rows_ctx c = {table, m, v, decoupled ? 0.0f : weight_decay,
                       adam_coefs(lr, beta1, beta2, eps, weight_decay, decoupled, step)};
    float *arrays[ROWS_MAX_ARRAYS] = {table, m, v};
    return for_every_row(pool, table_rows, width, grads, count_grad_rows(grads, n_grads), scratch, adam_row,
                         adam_rows_untouched, &c, arrays);
}

float rt_schedule_lr(int kind, double lr, int64_t step, int64_t total, int64_t warmup, double to) {
    if (warmup > 0 && step < warmup) return (float)(lr * (double)(step + 1) / (double)warmup);
    int64_t start = warmup > 0 ? warmup : 0, span = total - start;
    double frac = span > 0 ? (double)(step - start) / (double)span : 1.0;
    if (frac > 1.0) frac = 1.0;
    if (frac < 0.0) frac = 0.0;
    double end = lr * to;
    switch (kind) {
    case RT_SCHED_LINEAR: return (float)(lr + (end - lr) * frac);
    case RT_SCHED_COSINE: return (float)(end + (lr - end) * 0.5 * (1.0 + cos(RT_PI * frac)));
    default: return (float)lr;
    }
}
