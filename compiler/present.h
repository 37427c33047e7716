/* present.h — what a stage shows when it has run: the `show` picture grid, the
 * `codes` scatter (PCA to 2-D, coloured by `labels`), the `vectors` export in
 * word2vec text format and the `neighbours` of a few words (docs/language.md,
 * Extensions). The trainer calls present_stage_end through rt_stage.at_end.
 * Prefix: present_.
 */
#ifndef RLC_PRESENT_H
#define RLC_PRESENT_H

#include "backend.h"

/* True when the stage has anything to present (so the back end sets the hook). */
bool present_wanted(const IrStage *st);

/* user: the stage's BackendStage. Evaluates the named bindings with the reference
 * interpreter on the first examples of the stage's data (unshuffled) and writes
 * END->dir/show.png and END->dir/codes.png; writes the embedding table as word2vec
 * text to st->vectors and the neighbour lists to END->dir/neighbours.txt (and to
 * END->out). False with a message in err when a file cannot be written or memory
 * runs out. */
bool present_stage_end(void *user, const rt_stage_end *end, rt_error *err);

/* The first two principal axes of n rows of z (dimension d, double): proj gets
 * n x 2 coordinates; returns the fraction of the variance they explain. Power
 * iteration on the covariance with deflation; deterministic. */
double present_pca2(const double *z, int64_t n, int64_t d, double *proj);

#endif
