/* bounds.h — what the i32 inputs of a stage index, so the runtime can check the
 * data before training: a class label past one_hot's classes or a token id past
 * an embedding table would otherwise train silently on a zero row.
 * Prefix: bounds_.
 */
#ifndef RLC_BOUNDS_H
#define RLC_BOUNDS_H

#include "ir.h"

/* Per input of g (g->inputs order): the exclusive upper bound its values must
 * respect and the use that sets it, found by following each i32 input through
 * the ops that move values without changing them (reshape, transpose, slice,
 * pad, concat, broadcast, where's branches) to the ops that index with them:
 * gather and scatter_add (the table's rows) and one_hot (its classes); the
 * smallest bound wins. An input that indexes nothing gets limit 0. Allocated in a. */
rt_index_limit *bounds_inputs(Arena *a, const IrGraph *g);

#endif
