/* pool.c — the thread pool behind rt_parallel_for and rt_sgemm: one job at a
 * time, static contiguous split, the caller takes part. Between jobs a worker
 * spins for a while (SPIN_NS) before it sleeps on a condition variable, and the
 * caller spins the same way while it waits for the workers: a step posts many
 * short jobs back to back, and on a virtual machine a futex wake-up costs
 * 30-60 us, more than the half of a skip-gram update it hands over.
 *
 * Thread policy: this pool is the only source of parallelism. OpenBLAS is set to
 * one thread once, and large matrix products are split here into one-thread
 * sgemm calls on blocks of C. OpenBLAS's own threads spin after each call
 * (notes/llvm-19.md §6.8) and toggling their count around every parallel loop
 * costs a call per loop; with them idle, the step never runs more threads than
 * --threads. */
#define _POSIX_C_SOURCE 200809L
#include "rlrt.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct rt_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    _Atomic uint64_t generation;   /* bumped once per job, under mu (so a sleeper never misses it) */
    atomic_int pending;            /* workers yet to finish the current job */
    atomic_bool quit;
    /* the current job */
    rt_range_fn fn;
    void *ctx;
    int64_t n;
    int parts;
    bool side;           /* the current job is a side job the caller has not waited for yet */
    uint64_t side_jobs;  /* side jobs posted (they bump the generation too) */
};

static _Thread_local bool in_job; /* nested parallel_for runs inline */

/* OpenBLAS runs on one thread for the whole process: set once, by the first pool. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single(void) { openblas_set_num_threads(1); }

static void range_of(int64_t n, int parts, int k, int64_t *lo, int64_t *hi) {
    *lo = n * k / parts;
    *hi = n * (k + 1) / parts;
}

/* How long a thread spins before it sleeps: longer than the serial stretches
 * between a step's parallel jobs (skip-gram: ~100 us), short enough that an idle
 * pool gives its cores back at once on a human scale. */
enum { SPIN_NS = 200000, SPIN_CHECK = 64 };

static uint64_t clock_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A spinning thread yields its core now and then: on a machine busier than its
 * cores (other processes, mpirun oversubscribed) a pure spin would hold the core
 * the thread it waits for needs. */
static inline void cpu_relax(unsigned i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % SPIN_CHECK == 0) sched_yield();
}

/* Spins until done(pool, arg) holds or SPIN_NS pass; returns whether it holds. */
static bool spin_until(rt_pool *pool, bool (*done)(rt_pool *, uint64_t), uint64_t arg) {
    uint64_t start = 0;
    for (unsigned i = 1;; i++) {
        if (done(pool, arg)) return true;
        cpu_relax(i);
        if (i % SPIN_CHECK == 0) {
            uint64_t t = clock_ns();
            if (!start) start = t;
            else if (t - start > SPIN_NS) return false;
        }
    }
}

static bool job_posted(rt_pool *pool, uint64_t seen) {
    return atomic_load_explicit(&pool->generation, memory_order_acquire) != seen ||
           atomic_load_explicit(&pool->quit, memory_order_relaxed);
}

static bool job_finished(rt_pool *pool, uint64_t unused) {
    (void)unused;
    return atomic_load_explicit(&pool->pending, memory_order_acquire) == 0;
}

typedef struct worker_arg {
    rt_pool *pool;
    int index;
} worker_arg;

static void *worker_main(void *p) {
    worker_arg a = *(worker_arg *)p;
    free(p);
    rt_pool *pool = a.pool;
    uint64_t seen = 0;
    in_job = true;
    for (;;) {
        if (!spin_until(pool, job_posted, seen)) {
            pthread_mutex_lock(&pool->mu);
            while (!job_posted(pool, seen)) pthread_cond_wait(&pool->wake, &pool->mu);
            pthread_mutex_unlock(&pool->mu);
        }
        if (atomic_load(&pool->quit)) break;
        seen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (a.index < pool->parts) {
            int64_t lo, hi;
            range_of(pool->n, pool->parts, a.index, &lo, &hi);
            if (hi > lo) pool->fn(pool->ctx, lo, hi);
        }
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->mu);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mu);
        }
    }
    return NULL;
}

rt_pool *rt_pool_create(int threads) {
    if (threads < 1) threads = 1;
    rt_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->threads = threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->workers = calloc((size_t)threads, sizeof *pool->workers);
    int started = 1;
    for (int k = 1; pool->workers && k < threads; k++, started++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) break;
        *a = (worker_arg){pool, k};
        if (pthread_create(&pool->workers[k], NULL, worker_main, a) != 0) {
            free(a);
            break;
        }
    }
    pool->threads = started; /* fewer threads if the system refused some */
    pthread_once(&blas_once, blas_single);
    return pool;
}

void rt_pool_destroy(rt_pool *pool) {
    if (!pool) return;
    rt_pool_side_wait(pool);
    pthread_mutex_lock(&pool->mu);
    atomic_store(&pool->quit, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int k = 1; k < pool->threads; k++) pthread_join(pool->workers[k], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->workers);
    free(pool);
}

int rt_pool_threads(const rt_pool *pool) { return pool ? pool->threads : 1; }

/* Only the thread that hands out jobs bumps the generation, so it may read it unlocked. */
uint64_t rt_pool_jobs(const rt_pool *pool) { return pool ? pool->generation - pool->side_jobs : 0; }

/* Waits until every worker has finished the current job. */
static void wait_finished(rt_pool *pool) {
    if (!spin_until(pool, job_finished, 0)) {
        pthread_mutex_lock(&pool->mu);
        while (!job_finished(pool, 0)) pthread_cond_wait(&pool->done, &pool->mu);
        pthread_mutex_unlock(&pool->mu);
    }
}

/* Hands the workers a job: worker k runs part k of [0, n) in `parts` parts. */
static void post(rt_pool *pool, int64_t n, int parts, rt_range_fn fn, void *ctx) {
    /* Every worker has finished the last job, so none reads these while they change. */
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    pool->parts = parts;
    atomic_store_explicit(&pool->pending, pool->threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
}

void rt_pool_side_wait(rt_pool *pool) {
    if (!pool || !pool->side) return;
    wait_finished(pool);
    pool->side = false;
}

bool rt_pool_side_running(rt_pool *pool) { return pool && pool->side && !job_finished(pool, 0); }

bool rt_pool_side_start(rt_pool *pool, rt_range_fn fn, void *ctx) {
    if (!pool || pool->threads == 1 || in_job) return false;
    rt_pool_side_wait(pool);
    /* one item in two parts: the caller's part 0 is empty, worker 1 runs [0, 1) */
    post(pool, 1, 2, fn, ctx);
    pool->side = true;
    pool->side_jobs++;
    return true;
}

void rt_parallel_for(rt_pool *pool, int64_t n, rt_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (!pool || pool->threads == 1 || in_job || n == 1) {
        fn(ctx, 0, n);
        return;
    }
    rt_pool_side_wait(pool);
    int parts = n < pool->threads ? (int)n : pool->threads;
    post(pool, n, parts, fn, ctx);
    int64_t lo, hi;
    range_of(n, parts, 0, &lo, &hi);
    in_job = true;
    fn(ctx, lo, hi);
    in_job = false;
    wait_finished(pool);
}

/* ------------------------------------------------------------------ sgemm */

/* Time inside rt_sgemm, for `rlc run --profile` and tests/perf. */
static atomic_bool sgemm_counting;
static _Atomic uint64_t sgemm_ns, sgemm_calls, sgemm_split_calls;

void rt_sgemm_profile(bool on) {
    atomic_store(&sgemm_counting, on);
    atomic_store(&sgemm_ns, 0);
    atomic_store(&sgemm_calls, 0);
    atomic_store(&sgemm_split_calls, 0);
}

double rt_sgemm_seconds(uint64_t *calls) {
    if (calls) *calls = atomic_load(&sgemm_calls);
    return 1e-9 * (double)atomic_load(&sgemm_ns);
}

uint64_t rt_sgemm_split_calls(void) { return atomic_load(&sgemm_split_calls); }

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The cost model of a split: a product goes to p parts only when each part
 * keeps at least SGEMM_PART_MACS multiply-adds. Splitting costs a wake of the
 * pool (10-20 us measured on this 2-vCPU AMD EPYC, idle; far more when the
 * machine is loaded and the worker's vCPU is busy) and 12-15% more CPU in all
 * (each part packs its own copy of the shared operand, in smaller blocks: same
 * shapes, rt_sgemm at 1 and 2 threads, getrusage). With t1 the one-call time,
 * a 2-way split gains when t1/2 * 1.15 + wake < t1, i.e. t1 > 2.4 wake; 2^22
 * multiply-adds is 40-90 us at the 50-105 GFLOP/s OpenBLAS reaches here, a
 * margin of 2-4x over that. Under the old rule (2^20 in all) every batch-32
 * auto-encoder product of 6.4M multiply-adds split, and the step ran slower at
 * 2 threads than at 1 (issue 14: 1.36 vs 1.06 ms); now those run as one call,
 * as at 1 thread, and the batch-256 products (51M) still split. A fixed model,
 * not a timing taken at run time: which products split decides the last bits
 * of a split product (docs/runtime.md, Determinism), so the decision must be
 * the same in every run with the same thread count. */
enum { SGEMM_PART_MACS = 1 << 22, SGEMM_ALIGN = 16 };

typedef struct sgemm_job {
    bool ta, tb, by_rows;
    int64_t M, N, K, lda, ldb, ldc, parts, extent;
    const float *A, *B;
    float *C;
} sgemm_job;

static void sgemm_block(const sgemm_job *j, int64_t i0, int64_t m, int64_t j0, int64_t n) {
    const float *a = j->A + (j->ta ? i0 : i0 * j->lda);
    const float *b = j->B + (j->tb ? j0 * j->ldb : j0);
    rt_gemm(j->ta, j->tb, m, n, j->K, a, j->lda, b, j->ldb, 0.0f, j->C + i0 * j->ldc + j0, j->ldc);
}

/* Part k of the split dimension, its bounds multiples of SGEMM_ALIGN (the
 * micro-kernels' tile) except at the end. */
static void sgemm_part(void *ctx, int64_t lo, int64_t hi) {
    const sgemm_job *j = ctx;
    for (int64_t k = lo; k < hi; k++) {
        int64_t tiles = (j->extent + SGEMM_ALIGN - 1) / SGEMM_ALIGN;
        int64_t a = tiles * k / j->parts * SGEMM_ALIGN, b = tiles * (k + 1) / j->parts * SGEMM_ALIGN;
        if (b > j->extent) b = j->extent;
        if (b <= a) continue;
        if (j->by_rows) sgemm_block(j, a, b - a, 0, j->N);
        else sgemm_block(j, 0, j->M, a, b - a);
    }
}

/* Into how many parts rt_sgemm splits an M x N x K product on the pool (1: one call). */
static int64_t sgemm_parts(const rt_pool *pool, int64_t M, int64_t N, int64_t K) {
    int threads = pool && !in_job ? pool->threads : 1;
    int64_t extent = M >= N ? M : N;
    int64_t most = (extent + SGEMM_ALIGN - 1) / SGEMM_ALIGN, worth = M * N * K / SGEMM_PART_MACS;
    if (most > worth) most = worth;
    if (threads > 1 && most >= 2 && extent >= 2 * SGEMM_ALIGN) return threads < most ? threads : most;
    return 1;
}

void rt_sgemm(rt_pool *pool, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
              const float *A, int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc) {
    bool counting = atomic_load_explicit(&sgemm_counting, memory_order_relaxed);
    uint64_t t0 = counting ? now_ns() : 0;
    sgemm_job j = {trans_a != 0, trans_b != 0, M >= N, M, N, K, lda, ldb, ldc, 1, M >= N ? M : N, A, B, C};
    int64_t parts = sgemm_parts(pool, M, N, K);
    if (parts > 1) {
        j.parts = parts;
        rt_parallel_for(pool, j.parts, sgemm_part, &j);
        if (counting) atomic_fetch_add_explicit(&sgemm_split_calls, 1, memory_order_relaxed);
    } else {
        sgemm_block(&j, 0, M, 0, N);
    }
    if (counting) {
        atomic_fetch_add_explicit(&sgemm_ns, now_ns() - t0, memory_order_relaxed);
        atomic_fetch_add_explicit(&sgemm_calls, 1, memory_order_relaxed);
    }
}

void rt_sgemm_batched(rt_pool *pool, int trans_a, int trans_b, int64_t G, int64_t M, int64_t N, int64_t K,
                      const float *A, int64_t lda, int64_t stride_a, const float *B, int64_t ldb, int64_t stride_b,
                      float *C, int64_t ldc, int64_t stride_c) {
    /* Products large enough to split run as before, each split over the pool; the others
     * as one batch on this thread, as each of them would run alone. */
    if (sgemm_parts(pool, M, N, K) > 1) {
        for (int64_t g = 0; g < G; g++)
            rt_sgemm(pool, trans_a, trans_b, M, N, K, A + g * stride_a, lda, B + g * stride_b, ldb, C + g * stride_c,
                     ldc);
        return;
    }
    bool counting = atomic_load_explicit(&sgemm_counting, memory_order_relaxed);
    uint64_t t0 = counting ? now_ns() : 0;
    rt_gemm_batched(trans_a != 0, trans_b != 0, G, M, N, K, A, lda, stride_a, B, ldb, stride_b, C, ldc, stride_c);
    if (counting) {
        atomic_fetch_add_explicit(&sgemm_ns, now_ns() - t0, memory_order_relaxed);
        atomic_fetch_add_explicit(&sgemm_calls, (uint64_t)G, memory_order_relaxed);
    }
}
