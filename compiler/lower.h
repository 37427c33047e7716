/* lower.h — the checked AST of a whole program becomes an IrProgram: one IR
 * graph per train/eval stage, the datasets as rt_dataset_spec, the stages'
 * settings as IrStage (rl-language.md §4, §6; DESIGN.md, Boundaries).
 *
 * Prefix: lower_ (and summary_ for summary.c).
 */
#ifndef RLC_LOWER_H
#define RLC_LOWER_H

#include <stdio.h>
#include "ast.h"
#include "ir.h"

/* Answers a dataset property such as `brown.vocab`, which only the data knows:
 * the driver loads the dataset described by `ds` and counts. Returns false and
 * writes a message to `why` when it cannot. */
typedef bool (*LowerDatasetDim)(void *ctx, const rt_dataset_spec *ds, const char *property,
                                int64_t *value, char *why, size_t why_len);

typedef struct LowerOptions {
    LowerDatasetDim dataset_dim;   /* NULL: properties take small_dims, or are an error */
    void *dataset_dim_ctx;
    /* Gradient checks run without the data: with small_dims > 0 every dataset
     * property is that number and the callback is not asked. */
    int64_t small_dims;
    /* `rlc check`: > 0, a property the callback cannot answer (the data is
     * missing) takes this size with a warning at the property, not an error. */
    int64_t placeholder_dims;
    int64_t batch;                 /* > 0: overrides every stage's `batch:` */
    int64_t procs;                 /* > 1: every stage sharded over that many processes
                                      (shard.c, docs/mpi.md); 0 or 1: one process */
} LowerOptions;

/* Lowers every dataset and every stage of a checked program. Train stages are
 * differentiated (ad_differentiate) and simplified (simplify_graph). Errors go
 * to `d` with a span; returns NULL when there were any. */
IrProgram *lower_program(const Program *p, Diags *d, const LowerOptions *o);

/* lower_image.c: the image built-ins (rl-language.md §8.2) as IR, for lower.c.
 * x is [N, C, H, W] with constant C, H, W; check.c has checked every size. */
int lower_conv2d(IrGraph *g, int x, int w, int64_t stride, int64_t pad, int64_t dil, Span at);
int lower_conv_transpose2d(IrGraph *g, int x, int w, int64_t stride, int64_t pad, int64_t out_pad, Span at);
int lower_pool2d(IrGraph *g, int x, bool is_max, int64_t k, int64_t stride, int64_t pad, Span at);
int lower_upsample2d(IrGraph *g, int x, int64_t factor, Span at);
int lower_global_avg_pool(IrGraph *g, int x, Span at);
/* train: x * mask / (1 - p), the mask a bernoulli(1 - p) marked dropout_mask; else x. */
int lower_dropout(IrGraph *g, int x, double p, bool train, int stream, Span at);
/* batch_normalize: x [B, C, H, W] or [B, C]; gamma, beta [C]; mean, var the IR_PARAM nodes of
 * [C] state tensors. batch_stats: normalise with the batch's statistics and append the IR_UPDATEs
 * of the running ones; otherwise normalise with the running ones. */
int lower_batch_norm(IrGraph *g, int x, int gamma, int beta, int mean, int var, double momentum,
                     double eps, bool batch_stats, Span at);

/* What `rlc dump FILE --ir | --grad [--raw]` prints, for every stage or the one
 * named `only` (NULL: all):
 *   --ir          the forward graph of each stage, simplified;
 *   --grad        forward + backward + updates, simplified;
 *   --raw         with either: the graph as lowered (and differentiated), before
 *                 simplify_graph — to see what lowering and autodiff produce. */
void lower_dump(const IrProgram *ir, bool grad, bool raw, const char *only, StrBuf *out);

/* `rlc summary FILE`: per stage its parameters (name, shape, count,
 * trained/frozen), totals, FLOPs of one step at the stage's batch size
 * (forward, backward, update) and the memory a step needs. */
void summary_print(const IrProgram *ir, StrBuf *out);

#endif
