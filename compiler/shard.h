/* shard.h — a stage's forward graph split along the batch axis over the
 * processes of a data-parallel run (shard.c, docs/mpi.md). */
#ifndef RLC_SHARD_H
#define RLC_SHARD_H

#include "ir.h"

/* The forward graph g (not yet differentiated) for one of `procs` >= 2
 * processes, each holding B rows of the procs*B of a global batch, with the
 * collectives that give every batch-mixing node its one-process value; its
 * loss and reports are the one-process ones on every process. Sets procs. */
IrGraph *shard_graph(const IrGraph *g, int64_t procs);

#endif
