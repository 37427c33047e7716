/* gradcheck.c — symbolic gradients against central finite differences.
 *
 * Everything runs in double through the interpreter, so the finite difference
 * (L(p + h) - L(p - h)) / 2h with h = 1e-6 (1 + |p|) has an error near 1e-9 and
 * any gradient rule that is wrong shows as a large relative error. Random ops
 * draw with the same (seed, stream, step) in every evaluation, so they are
 * held fixed; so is every stop_gradient, at its value at the base point: the
 * symbolic gradient treats it as a constant, and the differences must too.
 *
 * The step adapts to the loss's scale: each evaluation of L is rounded to about
 * an ulp of |L|, which the difference divides by 2h. A large summed loss (~1e5)
 * whose entry's slope is small would let that rounding exceed the tolerance,
 * so h grows until the rounding is a tenth of the error the entry may have:
 * h >= 2 eps |L| / (0.1 tol max(|g|, floor)). A wrong rule is wrong at every h.
 *
 * Params are drawn uniform in [-s, s] with s = 1/sqrt(fan-in) (the product of
 * every dim but the last; s = 1 for vectors and scalars), the scale a trained
 * network has: with s = 1 a 784-wide layer feeds pre-activations in the tens,
 * sigmoids saturate and their gradients vanish below what the check can see.
 *
 * relu, abs, max/min and where(x > 0, ...) have kinks: an entry whose
 * [p - h, p + h] straddles one gets a difference that is neither side's slope.
 * Such a sample shows as two one-sided differences that disagree; only then is
 * it retried with h / 16 and h / 256, and the smallest error counts. A wrong
 * rule on a smooth path is as wrong at every h, so this never hides one.
 */
#include "interp.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

enum { GC_MAX_SAMPLES = 20, GC_DEFAULT_RANGE = 4, GC_RETRIES = 2 };

/* Gradients below this size are compared absolutely rather than relatively. */
#define GC_FLOOR 1e-3

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static double uniform(uint64_t *s) { return (double)(splitmix(s) >> 11) / 4503599627370496.0 - 1.0; }

int64_t *ir_index_limits(const IrGraph *g) {
    int n = g->nodes.len;
    int64_t *lim = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!lim) return NULL;
    for (int i = 0; i < n; i++) lim[i] = INT64_MAX;
    for (int id = n - 1; id >= 0; id--) {
        const IrNode *u = &g->nodes.items[id];
        int src = -1;
        int64_t bound = INT64_MAX;
        if (u->op == IR_GATHER) {
            src = u->in[1];
            bound = g->nodes.items[u->in[0]].shape.d[0].c;
        } else if (u->op == IR_SCATTER_ADD) {
            src = u->in[0];
            bound = u->shape.d[0].c;
        } else if (u->op == IR_ONE_HOT) {
            src = u->in[0];
            bound = u->dim.c;
        } else if (ir_op_info[u->op].cls == IRC_MOVE && u->dtype == IR_I32) {
            for (int k = 0; k < u->nin; k++)
                if (lim[id] < lim[u->in[k]]) lim[u->in[k]] = lim[id];
        }
        if (src >= 0 && bound < lim[src]) lim[src] = bound;
    }
    return lim;
}

typedef struct GcState {
    const IrGraph *g;
    int64_t B;
    uint64_t seed;
    double **params;
    void **inputs;
    double **fixed;              /* per node: a stop_gradient's value at the base point, else NULL */
} GcState;

/* The loss alone: nodes are in topological order, so the prefix of the graph
 * up to the loss node is everything it depends on (no backward nodes). */
static double loss_at(const GcState *s) {
    IrGraph fwd = *s->g;
    fwd.nodes.len = s->g->loss + 1;
    InterpRun r = {.g = &fwd, .B = s->B, .seed = s->seed, .params_f64 = s->params, .inputs = s->inputs,
                   .fixed = s->fixed};
    double loss = interp_run(&r) ? r.v[fwd.loss][0] : NAN;
    interp_run_free(&r);
    return loss;
}

/* The loss and gradients at the base point; keeps each stop_gradient's value
 * there in s->fixed. NAN when memory runs out. */
static double base_point(GcState *s, double **grads) {
    const IrGraph *g = s->g;
    InterpRun r = {.g = g, .B = s->B, .seed = s->seed, .params_f64 = s->params, .inputs = s->inputs};
    double loss = NAN;
    if (interp_run(&r)) {
        loss = g->loss >= 0 ? r.v[g->loss][0] : NAN;
        for (int i = 0; i < g->params.len; i++) {
            const IrParam *p = &g->params.items[i];
            int64_t n = ir_shape_numel(&p->shape, s->B);
            for (int64_t k = 0; k < n; k++) grads[i][k] = p->grad >= 0 ? r.v[p->grad][k] : 0.0;
        }
        for (int id = 0; id <= g->loss; id++) {
            if (g->nodes.items[id].op != IR_STOP_GRAD) continue;
            s->fixed[id] = r.v[id];
            r.v[id] = NULL;   /* kept: interp_run_free skips it */
        }
    }
    interp_run_free(&r);
    return loss;
}

static void free_state(GcState *s, double **grads) {
    for (int i = 0; i < s->g->params.len; i++) {
        if (s->params) free(s->params[i]);
        if (grads) free(grads[i]);
    }
    for (int i = 0; s->inputs && i < s->g->inputs.len; i++) free(s->inputs[i]);
    for (int i = 0; s->fixed && i < s->g->nodes.len; i++) free(s->fixed[i]);
    free(s->params);
    free(s->inputs);
    free(s->fixed);
    free(grads);
}

/* Fills params and inputs with small random values; false when memory runs out. */
static bool make_state(GcState *s, uint64_t *rng, double **grads) {
    const IrGraph *g = s->g;
    for (int i = 0; i < g->params.len; i++) {
        int64_t n = ir_shape_numel(&g->params.items[i].shape, s->B);
        s->params[i] = malloc(sizeof(double) * (size_t)(n + 1));
        grads[i] = malloc(sizeof(double) * (size_t)(n + 1));
        if (!s->params[i] || !grads[i]) return false;
        const IrShape *ps = &g->params.items[i].shape;
        int64_t fan_in = 1;
        for (int a = 0; a + 1 < ps->rank; a++) fan_in *= ps->d[a].c;
        double scale = 1.0 / sqrt((double)(fan_in > 1 ? fan_in : 1));
        for (int64_t k = 0; k < n; k++) s->params[i][k] = scale * uniform(rng);
    }
    int64_t *lim = ir_index_limits(g);
    if (!lim) return false;
    bool ok = true;
    for (int i = 0; i < g->inputs.len && ok; i++) {
        const IrInput *in = &g->inputs.items[i];
        int64_t n = ir_shape_numel(&in->shape, s->B);
        s->inputs[i] = malloc(4 * (size_t)(n + 1));
        if (!(ok = s->inputs[i] != NULL)) break;
        if (in->dtype == IR_F32) {
            float *f = s->inputs[i];
            for (int64_t k = 0; k < n; k++) f[k] = (float)uniform(rng);
        } else {
            int64_t range = lim[in->node] == INT64_MAX ? GC_DEFAULT_RANGE : lim[in->node];
            int32_t *v = s->inputs[i];
            for (int64_t k = 0; k < n; k++)
                v[k] = range > 0 ? (int32_t)(splitmix(rng) % (uint64_t)range) : 0;
        }
    }
    free(lim);
    return ok;
}

static double rel_error(double num, double sym) {
    return fabs(num - sym) / fmax(GC_FLOOR, fmax(fabs(num), fabs(sym)));
}

/* The relative error of one entry's symbolic gradient `sym` against central
 * differences; `base` is the loss at the unperturbed params. The numeric
 * gradient is left in *num. */
static double sample(const GcState *s, double *entry, double base, double sym, double tolerance,
                     double *num) {
    double rounding = 2 * DBL_EPSILON * fabs(base);
    double keep = *entry, best = INFINITY;
    double h = fmax(1e-6 * (1.0 + fabs(keep)), rounding / (0.1 * tolerance * fmax(GC_FLOOR, fabs(sym))));
    for (int attempt = 0; attempt <= GC_RETRIES; attempt++, h /= 16) {
        *entry = keep + h;
        double up = loss_at(s);
        *entry = keep - h;
        double down = loss_at(s);
        *entry = keep;
        double n = (up - down) / (2 * h), err = rel_error(n, sym);
        if (!(err >= best)) {
            best = err;
            *num = n;
        }
        /* smooth on [p - h, p + h]: both one-sided slopes agree with the central one */
        bool kink = rel_error((up - base) / h, (base - down) / h) > tolerance;
        if (err <= tolerance || !kink) break;
    }
    return best;
}

bool ir_gradcheck(const IrGraph *g, int64_t B, uint64_t seed, double tolerance, StrBuf *report) {
    uint64_t rng = seed;
    GcState s = {.g = g, .B = B, .seed = seed};
    s.params = calloc((size_t)g->params.len + 1, sizeof(double *));
    s.inputs = calloc((size_t)g->inputs.len + 1, sizeof(void *));
    s.fixed = calloc((size_t)g->nodes.len + 1, sizeof(double *));
    double **grads = calloc((size_t)g->params.len + 1, sizeof(double *));
    if (!s.params || !s.inputs || !s.fixed || !grads || !make_state(&s, &rng, grads)) {
        sb_puts(report, "gradcheck: out of memory\n");
        free_state(&s, grads);
        return false;
    }
    double base = base_point(&s, grads);
    bool pass = isfinite(base);
    if (!pass) sb_printf(report, "gradcheck %s: the loss is not finite (%g)\n", g->name, base);
    /* every param is reported, also after a failure: which ones fail tells which rule is wrong */
    for (int i = 0; i < g->params.len && isfinite(base); i++) {
        const IrParam *p = &g->params.items[i];
        if (!p->trained) continue;
        /* Reached only through stop_gradient or a random op (or not at all):
         * no symbolic gradient by design, so nothing to compare. */
        if (p->grad < 0) {
            sb_printf(report, "none %s: no gradient\n", p->name);
            continue;
        }
        int64_t n = ir_shape_numel(&p->shape, B);
        int64_t samples = n < GC_MAX_SAMPLES ? n : GC_MAX_SAMPLES;
        double worst = 0, w_sym = 0, w_num = 0;
        int64_t w_at = 0;
        for (int64_t j = 0; j < samples; j++) {
            int64_t k = n <= GC_MAX_SAMPLES ? j : (int64_t)(splitmix(&rng) % (uint64_t)n);
            double sym = grads[i][k], num = NAN, err = sample(&s, &s.params[i][k], base, sym, tolerance, &num);
            if (!(err <= worst)) {
                worst = err;
                w_at = k;
                w_sym = sym;
                w_num = num;
            }
        }
        bool ok = worst <= tolerance;
        pass &= ok;
        sb_printf(report, "%s %s: worst relative error %.3g at [%lld] (symbolic %.9g, numeric %.9g)\n",
                  ok ? "ok  " : "FAIL", p->name, worst, (long long)w_at, w_sym, w_num);
    }
    free_state(&s, grads);
    return pass;
}
