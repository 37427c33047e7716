/* pool.c — the thread pool behind rt_parallel_for: one job at a time, static
 * contiguous split, the caller takes part. Workers sleep on a condition variable
 * between jobs, so an idle pool costs nothing while OpenBLAS runs. */
#define _POSIX_C_SOURCE 200809L
#include "rlrt.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>

struct rt_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;       /* bumped once per job */
    int pending;               /* workers yet to finish the current job */
    bool quit;
    /* the current job */
    rt_range_fn fn;
    void *ctx;
    int64_t n;
    int parts;
};

static _Thread_local bool in_job; /* nested parallel_for runs inline */

/* OpenBLAS's thread count as last set from here: the setter is called only on a
 * change, since it may resize OpenBLAS's own pool. Only the caller's thread sets it. */
static int blas_threads;

static void set_blas_threads(int n) {
    if (n == blas_threads) return;
    openblas_set_num_threads(n);
    blas_threads = n;
}

static void range_of(int64_t n, int parts, int k, int64_t *lo, int64_t *hi) {
    *lo = n * k / parts;
    *hi = n * (k + 1) / parts;
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
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->quit && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->mu);
        if (pool->quit) break;
        seen = pool->generation;
        rt_range_fn fn = pool->fn;
        void *ctx = pool->ctx;
        int64_t n = pool->n;
        int parts = pool->parts;
        pthread_mutex_unlock(&pool->mu);
        if (a.index < parts) {
            int64_t lo, hi;
            range_of(n, parts, a.index, &lo, &hi);
            if (hi > lo) fn(ctx, lo, hi);
        }
        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
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
    set_blas_threads(pool->threads);
    return pool;
}

void rt_pool_destroy(rt_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->quit = true;
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

void rt_parallel_for(rt_pool *pool, int64_t n, rt_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (!pool || pool->threads == 1 || in_job || n == 1) {
        fn(ctx, 0, n);
        return;
    }
    int parts = n < pool->threads ? (int)n : pool->threads;
    set_blas_threads(1);
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    pool->parts = parts;
    pool->pending = pool->threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    int64_t lo, hi;
    range_of(n, parts, 0, &lo, &hi);
    in_job = true;
    fn(ctx, lo, hi);
    in_job = false;
    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
    set_blas_threads(pool->threads);
}
