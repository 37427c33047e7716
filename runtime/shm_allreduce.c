/* shm_allreduce.c — the steps' all-reduces through shared memory (docs/mpi.md, "Speed").
 *
 * When every process of the job runs on one node, each stage's workspace is this
 * process's segment of an MPI-3 shared window (MPI_Win_allocate_shared on the node's
 * communicator). The kernels store a gradient bucket in the workspace, so the bucket
 * already lies where every process can read it: no copy into MPI's buffers. An
 * all-reduce of n floats at the same workspace offset on every process goes:
 *
 *   1. each process marks its bucket ready (a flag in its segment);
 *   2. process r, once every process's bucket is ready, adds slice r of the n values
 *      over the processes in rank order (p0 + p1 + ..., the float adds of mpi.c's
 *      sum_in_rank_order, so the bits are those of the MPI path) and stores the sums
 *      into slice r of every process's output, then marks its slice done;
 *   3. a process's wait returns once every slice is done: its output holds every sum.
 *
 * Each process reads the n values once and writes them once. Step 2 runs in
 * shm_progress, which the steps call between kernels, so a bucket is reduced while
 * the backward pass goes on. The flags are C11 atomics in the segments (release when
 * set, acquire when read, and MPI_Win_sync as MPI-3's shared-memory model asks): no
 * message and no MPI_Barrier. A process waits on a flag by spinning a little, then
 * yielding the core; every 0.1 s it checks that the processes it waits for are alive,
 * so a process that ends without reaching the flag stops the job with its rank named
 * instead of leaving the others waiting.
 *
 * When the steps slice their updates (docs/mpi.md, "Sliced updates"), the parameters
 * and optimizer state are one copy in a window of their own (shm_shared_alloc), which
 * each process updates in its slice between two fences (shm_fence: the same flags,
 * one slot). */
#define _POSIX_C_SOURCE 200809L
#include "shm_allreduce.h"

#include "rlrt.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* All-reduces in flight at once per window: call c uses slot c % SLOTS. More (a model
 * of over 1 GB of gradients in 1 MiB buckets) go the MPI way. */
enum { SLOTS = 1024 };

/* The flags at the head of each process's segment. Every flag only grows (it holds
 * the number of the last call it marked), so a reused slot needs no reset. */
typedef struct control {
    _Atomic int64_t pid;
    _Atomic uint64_t ready[SLOTS]; /* call c's input is in place: c + 1 */
    _Atomic uint64_t done[SLOTS];  /* call c's slice of this process is summed everywhere: c + 1 */
} control;

/* The control block and a workspace both start on a page of their own. */
enum { PAGE = 4096 };
static size_t pages(size_t bytes) { return (bytes + PAGE - 1) / PAGE * PAGE; }

typedef struct window {
    MPI_Win win;
    size_t bytes;           /* the workspace's */
    char **space;           /* per process: its workspace, mapped here */
    control **ctl;          /* per process: its flags */
    uint64_t calls;         /* all-reduces begun in this window */
    int busy[SLOTS];        /* per slot: 1 while this process has that call in flight */
} window;

typedef enum { IDLE, AWAITING_INPUTS, AWAITING_SLICES } stage;

typedef struct inflight {
    window *w;
    float *out;
    size_t in_at, out_at;   /* byte offsets in the workspace */
    int64_t n;
    uint64_t mark;          /* the call's number + 1: the flags' value once reached */
    int slot;
    stage at;
} inflight;

/* A block of shm_shared_alloc: one copy, in process 0's segment of its window. */
typedef struct shared_block {
    MPI_Win win;
    char *base;
} shared_block;

static bool enabled;
static MPI_Comm node = MPI_COMM_NULL;
static int procs, rank;
static window **windows;
static int n_windows;
static window *fences;          /* shm_fence's flags: slot 0 of each process's ready[] */
static shared_block *blocks;
static int n_blocks;
static inflight *inflights;
static int n_inflights;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static _Noreturn void die(const char *what) {
    fprintf(stderr, "rlc: process %d of %d: %s\n", rank, procs, what);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

static void *grow(void *p, size_t bytes) {
    void *q = realloc(p, bytes);
    if (!q) die("out of memory for a shared-memory all-reduce");
    return q;
}

static window *open_window(size_t bytes);

void shm_start(MPI_Comm world) {
    const char *env = getenv("RLC_MPI_SHM");
    int world_size;
    MPI_Comm_size(world, &world_size);
    MPI_Comm_rank(world, &rank);
    /* every process computes the same answer: the node's size is the same on all
     * processes of a node, and a job on several nodes has one smaller than the world */
    MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &procs);
    int all_here = procs == world_size, everywhere = 0;
    MPI_Allreduce(&all_here, &everywhere, 1, MPI_INT, MPI_MIN, world);
    enabled = everywhere && world_size > 1 && !(env && strcmp(env, "0") == 0);
    if (!enabled) {
        MPI_Comm_free(&node);
        node = MPI_COMM_NULL;
        procs = world_size;
        return;
    }
    fences = open_window(0);
}

bool shm_enabled(void) { return enabled; }

static window *open_window(size_t bytes) {
    window *w = calloc(1, sizeof *w);
    if (!w) die("out of memory for a shared workspace");
    w->bytes = bytes;
    w->space = grow(NULL, sizeof *w->space * (size_t)procs);
    w->ctl = grow(NULL, sizeof *w->ctl * (size_t)procs);
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    char *mine = NULL;
    size_t segment = pages(sizeof(control)) + pages(bytes);
    if (MPI_Win_allocate_shared((MPI_Aint)segment, 1, info, node, &mine, &w->win) != MPI_SUCCESS) {
        char what[128];
        snprintf(what, sizeof what, "cannot allocate a shared workspace of %zu bytes", segment);
        die(what);
    }
    MPI_Info_free(&info);
    for (int q = 0; q < procs; q++) {
        MPI_Aint size;
        int unit;
        char *base;
        MPI_Win_shared_query(w->win, q, &size, &unit, &base);
        w->ctl[q] = (control *)base;
        w->space[q] = base + pages(sizeof(control));
    }
    control *c = w->ctl[rank];
    atomic_store_explicit(&c->pid, (int64_t)getpid(), memory_order_relaxed);
    for (int s = 0; s < SLOTS; s++) {
        atomic_store_explicit(&c->ready[s], 0, memory_order_relaxed);
        atomic_store_explicit(&c->done[s], 0, memory_order_relaxed);
    }
    /* a passive-target epoch for the whole life of the window, for MPI_Win_sync */
    MPI_Win_lock_all(MPI_MODE_NOCHECK, w->win);
    MPI_Win_sync(w->win);
    /* every process's flags are initialised before anyone reads them */
    MPI_Barrier(node);
    return w;
}

void *shm_workspace_alloc(size_t bytes) {
    window *w = open_window(bytes);
    windows = grow(windows, sizeof *windows * (size_t)(n_windows + 1));
    windows[n_windows++] = w;
    return w->space[rank];
}

static void release(window *w) {
    MPI_Win_unlock_all(w->win);
    MPI_Win_free(&w->win);
    free(w->space);
    free(w->ctl);
    free(w);
}

bool shm_workspace_free(void *p) {
    for (int i = 0; i < n_windows; i++)
        if (windows[i]->space[rank] == p) {
            release(windows[i]);
            windows[i] = windows[--n_windows];
            return true;
        }
    return false;
}

static void release_block(shared_block *b) {
    MPI_Win_unlock_all(b->win);
    MPI_Win_free(&b->win);
}

void *shm_shared_alloc(size_t bytes) {
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    size_t size = rank == 0 ? pages(bytes ? bytes : 1) : 0;
    char *mine = NULL;
    shared_block b;
    if (MPI_Win_allocate_shared((MPI_Aint)size, 1, info, node, &mine, &b.win) != MPI_SUCCESS) {
        char what[128];
        snprintf(what, sizeof what, "cannot allocate %zu bytes of parameters in shared memory", bytes);
        die(what);
    }
    MPI_Info_free(&info);
    MPI_Aint got;
    int unit;
    MPI_Win_shared_query(b.win, 0, &got, &unit, &b.base);
    if (rank == 0) memset(b.base, 0, size);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, b.win);
    MPI_Win_sync(b.win);
    /* the zeros are in place before any process reads or writes the block */
    MPI_Barrier(node);
    MPI_Win_sync(b.win);
    blocks = grow(blocks, sizeof *blocks * (size_t)(n_blocks + 1));
    blocks[n_blocks++] = b;
    return b.base;
}

bool shm_shared_free(void *p) {
    for (int i = 0; i < n_blocks; i++)
        if (blocks[i].base == p) {
            release_block(&blocks[i]);
            blocks[i] = blocks[--n_blocks];
            return true;
        }
    return false;
}

void shm_finish(void) {
    while (n_blocks > 0) release_block(&blocks[--n_blocks]);
    free(blocks);
    blocks = NULL;
    if (fences) release(fences);
    fences = NULL;
    while (n_windows > 0) release(windows[--n_windows]);
    free(windows);
    windows = NULL;
    free(inflights);
    inflights = NULL;
    n_inflights = 0;
    if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
    node = MPI_COMM_NULL;
    enabled = false;
}

/* The window whose workspace holds [p, p + bytes) on this process, or NULL. */
static window *window_of(const void *p, size_t bytes, size_t *at) {
    const char *c = p;
    for (int i = 0; i < n_windows; i++) {
        const char *base = windows[i]->space[rank];
        if (c >= base && c + bytes <= base + windows[i]->bytes) {
            *at = (size_t)(c - base);
            return windows[i];
        }
    }
    return NULL;
}

static bool reached(const window *w, bool done, int slot, uint64_t mark) {
    for (int q = 0; q < procs; q++) {
        const _Atomic uint64_t *flag = done ? &w->ctl[q]->done[slot] : &w->ctl[q]->ready[slot];
        if (atomic_load_explicit(flag, memory_order_acquire) < mark) return false;
    }
    return true;
}

/* Ends the job when a process that has not reached the flag no longer exists. */
static void check_alive(const window *w, bool done, int slot, uint64_t mark, const char *during) {
    for (int q = 0; q < procs; q++) {
        const _Atomic uint64_t *flag = done ? &w->ctl[q]->done[slot] : &w->ctl[q]->ready[slot];
        if (atomic_load_explicit(flag, memory_order_acquire) >= mark) continue;
        pid_t pid = (pid_t)atomic_load_explicit(&w->ctl[q]->pid, memory_order_relaxed);
        if (kill(pid, 0) != 0 && errno == ESRCH) {
            char what[160];
            snprintf(what, sizeof what, "process %d of %d ended during %s that this process waits for", q,
                     procs, during);
            die(what);
        }
    }
}

/* Waits until every process has reached the flag: spinning for the first 0.2 ms
 * (on a busy machine a yield can cost a whole time slice, several ms), then
 * yielding the core, which the process waited for may need (more processes than
 * cores). */
static void await(window *w, bool done, int slot, uint64_t mark, const char *during) {
    double start = 0, checked = 0;
    for (unsigned spins = 0; !reached(w, done, slot, mark); spins++) {
        if (spins % 64 != 0) continue;
        double t = now_s();
        if (start == 0) start = checked = t;
        if (t - start < 2e-4) continue;
        sched_yield();
        if (t - checked > 0.1) {
            check_alive(w, done, slot, mark, during);
            checked = t;
        }
    }
    MPI_Win_sync(w->win);
}

/* Slice r of n values: [n r / P, n (r + 1) / P) with both ends rounded down to 16
 * floats (64 bytes), so two processes never store into one cache line. */
static int64_t slice_start(int64_t n, int r) {
    return r == procs ? n : n * r / procs / 16 * 16;
}

/* Step 2: this process's slice of the sums, into every process's output. */
static void sum_my_slice(inflight *f) {
    enum { BLOCK = 512 };
    window *w = f->w;
    int64_t lo = slice_start(f->n, rank), hi = slice_start(f->n, rank + 1);
    float acc[BLOCK];
    for (int64_t at = lo; at < hi; at += BLOCK) {
        int64_t m = hi - at < BLOCK ? hi - at : BLOCK;
        for (int q = 0; q < procs; q++) {
            const float *p = (const float *)(w->space[q] + f->in_at) + at;
            if (q == 0) memcpy(acc, p, (size_t)m * sizeof *acc);
            else
                for (int64_t i = 0; i < m; i++) acc[i] += p[i];
        }
        for (int q = 0; q < procs; q++)
            memcpy((float *)(w->space[q] + f->out_at) + at, acc, (size_t)m * sizeof *acc);
    }
    MPI_Win_sync(w->win);
    atomic_store_explicit(&w->ctl[rank]->done[f->slot], f->mark, memory_order_release);
    f->at = AWAITING_SLICES;
}

bool shm_allreduce_start(float *out, const float *in, int64_t n) {
    if (!enabled || n <= 0) return false;
    size_t in_at, out_at, bytes = (size_t)n * sizeof(float);
    window *w = window_of(in, bytes, &in_at);
    if (!w || window_of(out, bytes, &out_at) != w) return false;
    int slot = (int)(w->calls % SLOTS);
    if (w->busy[slot]) return false;
    inflight *f = NULL;
    for (int i = 0; i < n_inflights && !f; i++)
        if (inflights[i].at == IDLE) f = &inflights[i];
    if (!f) {
        inflights = grow(inflights, sizeof *inflights * (size_t)(n_inflights + 1));
        f = &inflights[n_inflights++];
    }
    *f = (inflight){.w = w, .out = out, .in_at = in_at, .out_at = out_at, .n = n,
                    .mark = ++w->calls, .slot = slot, .at = AWAITING_INPUTS};
    w->busy[slot] = 1;
    MPI_Win_sync(w->win);
    atomic_store_explicit(&w->ctl[rank]->ready[slot], f->mark, memory_order_release);
    if (reached(w, false, slot, f->mark)) {
        MPI_Win_sync(w->win);
        sum_my_slice(f);
    }
    return true;
}

bool shm_progress(void) {
    bool any = false;
    for (int i = 0; i < n_inflights; i++) {
        inflight *f = &inflights[i];
        any = any || f->at != IDLE;
        if (f->at == AWAITING_INPUTS && reached(f->w, false, f->slot, f->mark)) {
            MPI_Win_sync(f->w->win);
            sum_my_slice(f);
        }
    }
    return any;
}

bool shm_allreduce_wait(float *out) {
    inflight *f = NULL;
    for (int i = 0; i < n_inflights && !f; i++)
        if (inflights[i].at != IDLE && inflights[i].out == out) f = &inflights[i];
    if (!f) return false;
    if (f->at == AWAITING_INPUTS) {
        await(f->w, false, f->slot, f->mark, "an all-reduce");
        sum_my_slice(f);
    }
    await(f->w, true, f->slot, f->mark, "an all-reduce");
    f->w->busy[f->slot] = 0;
    f->at = IDLE;
    return true;
}

void shm_fence(void) {
    uint64_t mark = ++fences->calls;
    /* MPI-3's shared-memory model: this process's stores into each block are
     * synchronised before the flag says they are made, and after it every other
     * process's are */
    for (int i = 0; i < n_blocks; i++) MPI_Win_sync(blocks[i].win);
    MPI_Win_sync(fences->win);
    atomic_store_explicit(&fences->ctl[rank]->ready[0], mark, memory_order_release);
    await(fences, false, 0, mark, "an update's fence");
    for (int i = 0; i < n_blocks; i++) MPI_Win_sync(blocks[i].win);
}
