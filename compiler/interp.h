/* interp.h — the reference interpreter of the IR (the oracle) and the
 * gradient checker (DESIGN.md, How we know it is right).
 *
 * Plain C loops over every node in order, no fusion. Values are computed in
 * double; in f32 mode every f32 node's result is rounded to float, which is
 * what a compiled step stores, while reductions and matmuls still accumulate
 * in double. Prefix: interp_ (and ir_gradcheck).
 */
#ifndef RLC_INTERP_H
#define RLC_INTERP_H

#include "ir.h"

/* One evaluation of a graph. Fill the inputs, call interp_run, read v[],
 * then interp_run_free. Exactly one of params_f32 / params_f64 is set. */
typedef struct InterpRun {
    const IrGraph *g;
    int64_t B;
    uint64_t seed;
    int64_t step;                /* random ops draw with (seed, stream, step) */
    bool f32;                    /* round f32 results to float */
    bool stop_at_nonfinite;      /* stop at the first node with a NaN or an infinity */
    bool mean_masks;             /* eval-like (pictures): dropout masks take their mean, so dropout is
                                    the identity, and nodes with eval_with take that node's value
                                    (batch_norm's running statistics) */
    float *const *params_f32;    /* per graph param */
    double *const *params_f64;
    void *const *inputs;         /* per graph input: float or int32_t [B, ...] */
    double *const *fixed;        /* NULL, or per node: NULL or values used instead of computing the
                                    node (gradcheck holds stop_gradient at its base-point value) */

    /* out */
    double **v;                  /* per node: its numel(shape, B) values, NULL if not evaluated */
    int first_nonfinite;         /* node id, or -1 */
} InterpRun;

/* Evaluates every node except IR_UPDATE. False only when memory runs out. */
bool interp_run(InterpRun *r);
void interp_run_free(InterpRun *r);

/* Runs one training (or eval) step as a compiled step would: reads params,
 * inputs and opt_state from ctx, writes ctx->loss (when the graph has one) and
 * ctx->reports, and applies every IR_UPDATE with the runtime's optimizer
 * (g->optim, ctx->lr, ctx->step). False only when memory runs out. */
bool interp_step(const IrGraph *g, rt_step_ctx *ctx);

/* The first node of the step in ctx whose value is not finite, or -1; nothing
 * is updated (used to name the .rl line when training blows up). */
int interp_first_nonfinite(const IrGraph *g, const rt_step_ctx *ctx);

/* Double precision: the loss at these param values, and for every param with a
 * gradient node its gradient in grads[i] (numel of the param; zeros when the
 * param has none; grads[i] may be NULL to skip). NAN when memory runs out. */
double interp_loss_grad(const IrGraph *g, int64_t B, double *const *params, void *const *inputs,
                        uint64_t seed, int64_t step, double *const *grads);

/* gradcheck.c: for every trained param, compares the symbolic gradient with
 * central finite differences in double on small random inputs (at most ~20
 * sampled entries a param; i32 inputs drawn in the range their gathers and
 * one_hots accept; stop_gradient's value held at the base point; the step
 * scaled to the loss). Writes one line per param with the worst relative error
 * to report; true when every one is within tolerance. */
bool ir_gradcheck(const IrGraph *g, int64_t B, uint64_t seed, double tolerance, StrBuf *report);

/* The exclusive upper bound each i32 node's values must respect for every
 * gather, scatter_add and one_hot it feeds (through movement ops in between):
 * a malloc'd array indexed by node id, INT64_MAX where nothing constrains the
 * node; NULL when memory runs out. Gradient checks and the JIT-vs-interpreter
 * tests draw i32 inputs below these bounds. */
int64_t *ir_index_limits(const IrGraph *g);

#endif
