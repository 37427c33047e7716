/* shm_allreduce.h — the all-reduce through a shared-memory window (shm_allreduce.c), as
 * mpi.c calls it. Not part of the ABI. */
#ifndef RT_SHM_ALLREDUCE_H
#define RT_SHM_ALLREDUCE_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* After MPI_Init: whether every process of `world` shares this node and the
 * environment does not turn the window off (RLC_MPI_SHM=0); if so, the later
 * calls use it. */
void shm_start(MPI_Comm world);
void shm_finish(void);
bool shm_enabled(void);

/* A workspace of `bytes` in a window every process of the node can read and write
 * (collective: every process calls it in the same order, with the same bytes);
 * 64-byte aligned. */
void *shm_workspace_alloc(size_t bytes);
/* false when p is no window's workspace (then it is the caller's to free). */
bool shm_workspace_free(void *p);

/* Begins out = the sum over the processes of in (n floats), each element added in
 * rank order, when in and out lie in one window's workspace (at the same offsets on
 * every process, as the steps' buffers do); false, having done nothing, otherwise. */
bool shm_allreduce_start(float *out, const float *in, int64_t n);
/* Moves every begun all-reduce on as far as it can without waiting; whether any
 * was in flight. */
bool shm_progress(void);
/* Returns once out holds the sums; false when no shared-memory all-reduce into out
 * is in flight. */
bool shm_allreduce_wait(float *out);

/* One copy of `bytes` (zeroed, 64-byte aligned) that every process of the node
 * reads and writes at the returned address's memory (collective, as
 * shm_workspace_alloc): the parameters and optimizer state when the steps slice
 * their updates (docs/mpi.md, "Sliced updates"). */
void *shm_shared_alloc(size_t bytes);
/* false when p is no shm_shared_alloc block (then it is the caller's to free). */
bool shm_shared_free(void *p);
/* Returns once every process of the node has called it as often as this one: the
 * writes each made before it are then seen by all (release/acquire on flags in a
 * window, no message). */
void shm_fence(void);

#endif
