/* present.c — pictures and exports at the end of a stage (present.h). The
 * bindings a picture names are computed by the reference interpreter on the
 * stage's forward graph, which lowering keeps whole, so nothing here depends on
 * what simplify or the back end kept of them. */
#include "present.h"
#include "fileio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* CODES_MAX: examples whose codes are drawn; ZOOM: screen pixels per image pixel. */
enum { CODES_MAX = 1000, SCATTER = 480, SCATTER_MARGIN = 12, ZOOM = 2 };

bool present_wanted(const IrStage *st) {
    return st->show.len || st->codes >= 0 || st->vectors || st->neighbours.len;
}

/* The stage's parameter table entry for a forward-graph parameter: the trainer's
 * params follow st->graph, which may have fewer (simplify drops unused ones). */
static float *param_data(const IrStage *st, const rt_stage_end *end, const char *name) {
    for (int i = 0; i < st->graph->params.len; i++)
        if (strcmp(st->graph->params.items[i].name, name) == 0) return end->params[i];
    return NULL;
}

static int64_t per_example(const IrGraph *g, int node) {
    const IrShape *sh = &g->nodes.items[node].shape;
    int64_t n = 1;
    for (int d = 1; d < sh->rank; d++) n *= sh->d[d].c;
    return n;
}

/* ------------------------------------------------------------------ PCA */

/* Largest eigenvector of the symmetric d x d matrix c by power iteration from a
 * fixed start; returns its eigenvalue. */
static double top_eigen(const double *c, int64_t d, double *v, double *tmp) {
    for (int64_t i = 0; i < d; i++) v[i] = 1.0 / sqrt((double)d) * (1.0 + 0.01 * (double)(i % 7));
    double lambda = 0;
    for (int it = 0; it < 500; it++) {
        double norm = 0;
        for (int64_t i = 0; i < d; i++) {
            double s = 0;
            for (int64_t j = 0; j < d; j++) s += c[i * d + j] * v[j];
            tmp[i] = s;
            norm += s * s;
        }
        norm = sqrt(norm);
        if (norm == 0) return 0;
        double change = 0;
        for (int64_t i = 0; i < d; i++) {
            double nv = tmp[i] / norm;
            change += fabs(nv - v[i]);
            v[i] = nv;
        }
        lambda = norm;
        if (change < 1e-10) break;
    }
    return lambda;
}

double present_pca2(const double *z, int64_t n, int64_t d, double *proj) {
    double *mean = calloc((size_t)d, sizeof *mean), *c = calloc((size_t)(d * d), sizeof *c);
    double *v = calloc((size_t)(2 * d), sizeof *v), *tmp = calloc((size_t)d, sizeof *tmp);
    double explained = 0;
    if (mean && c && v && tmp && n > 0) {
        for (int64_t r = 0; r < n; r++)
            for (int64_t i = 0; i < d; i++) mean[i] += z[r * d + i] / (double)n;
        for (int64_t r = 0; r < n; r++)
            for (int64_t i = 0; i < d; i++)
                for (int64_t j = 0; j < d; j++)
                    c[i * d + j] += (z[r * d + i] - mean[i]) * (z[r * d + j] - mean[j]) / (double)n;
        double total = 0;
        for (int64_t i = 0; i < d; i++) total += c[i * d + i];
        double l1 = top_eigen(c, d, v, tmp);
        /* deflate: C - l1 v1 v1^T leaves the second axis on top */
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < d; j++) c[i * d + j] -= l1 * v[i] * v[j];
        double l2 = top_eigen(c, d, v + d, tmp);
        explained = total > 0 ? (l1 + l2) / total : 0;
        for (int64_t r = 0; r < n; r++)
            for (int k = 0; k < 2; k++) {
                double s = 0;
                for (int64_t i = 0; i < d; i++) s += (z[r * d + i] - mean[i]) * v[k * d + i];
                proj[r * 2 + k] = s;
            }
    }
    free(mean);
    free(c);
    free(v);
    free(tmp);
    return explained;
}

/* ------------------------------------------------------------ pictures */

/* One row of show_count images per binding, each row as tall as its images. */
static bool write_show(const IrStage *st, const InterpRun *r, int64_t n, const char *dir, rt_error *err) {
    const IrGraph *g = st->forward;
    int64_t cols = n < st->show_count ? n : st->show_count, w = st->show_width, H = 0;
    int64_t *h = calloc((size_t)st->show.len, sizeof *h);
    if (!h) goto oom;
    int64_t W = 0;
    for (int k = 0; k < st->show.len; k++) {
        int64_t numel = per_example(g, st->show.items[k].node);
        int64_t wk = w ? w : (int64_t)(sqrt((double)numel) + 0.5);
        h[k] = numel / wk;
        H += h[k] + 1;
        if (cols * (wk + 1) - 1 > W) W = cols * (wk + 1) - 1;
    }
    H -= 1;
    float *canvas = calloc((size_t)(W * H), sizeof *canvas);
    if (!canvas) {
        free(h);
        goto oom;
    }
    /* grey gaps: most images here have black backgrounds */
    for (int64_t i = 0; i < W * H; i++) canvas[i] = 0.3f;
    int64_t y0 = 0;
    for (int k = 0; k < st->show.len; k++) {
        int node = st->show.items[k].node;
        int64_t numel = per_example(g, node), wk = numel / h[k];
        const double *v = r->v[node];
        for (int64_t i = 0; v && i < cols; i++)
            for (int64_t y = 0; y < h[k]; y++)
                for (int64_t x = 0; x < wk; x++)
                    canvas[(y0 + y) * W + i * (wk + 1) + x] = (float)v[i * numel + y * wk + x];
        y0 += h[k] + 1;
    }
    float *big = malloc((size_t)(W * H) * ZOOM * ZOOM * sizeof *big);
    if (!big) {
        free(canvas);
        free(h);
        goto oom;
    }
    for (int64_t y = 0; y < H * ZOOM; y++)
        for (int64_t x = 0; x < W * ZOOM; x++) big[y * W * ZOOM + x] = canvas[(y / ZOOM) * W + x / ZOOM];
    char path[1100];
    snprintf(path, sizeof path, "%s/show.png", dir);
    bool ok = rt_png_grid(path, big, 1, H * ZOOM, W * ZOOM, 1, err);
    free(big);
    free(canvas);
    free(h);
    return ok;
oom:
    rt_fail(err, "stage %s: out of memory for show.png", st->name);
    return false;
}

/* Matplotlib's tab10 colours: one a class (label mod 10). */
static const unsigned char palette[10][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

static bool write_codes(const IrStage *st, const InterpRun *r, int64_t n, const char *dir, FILE *out,
                        rt_error *err) {
    int64_t d = per_example(st->forward, st->codes);
    double *proj = calloc((size_t)(2 * n), sizeof *proj);
    unsigned char *px = malloc((size_t)(3 * SCATTER * SCATTER));
    if (!proj || !px) {
        free(proj);
        free(px);
        rt_fail(err, "stage %s: out of memory for codes.png", st->name);
        return false;
    }
    memset(px, 255, (size_t)(3 * SCATTER * SCATTER));
    double explained = present_pca2(r->v[st->codes], n, d, proj);
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int64_t i = 0; i < 2 * n; i++) {
        lo[i % 2] = fmin(lo[i % 2], proj[i]);
        hi[i % 2] = fmax(hi[i % 2], proj[i]);
    }
    const double *labels = st->labels >= 0 ? r->v[st->labels] : NULL;
    int span = SCATTER - 2 * SCATTER_MARGIN;
    for (int64_t i = 0; i < n; i++) {
        int cx = SCATTER_MARGIN, cy = SCATTER_MARGIN;
        if (hi[0] > lo[0]) cx += (int)((proj[2 * i] - lo[0]) / (hi[0] - lo[0]) * span);
        if (hi[1] > lo[1]) cy += (int)((hi[1] - proj[2 * i + 1]) / (hi[1] - lo[1]) * span);
        int cls = labels ? (int)labels[i] : 0;
        const unsigned char *col = palette[((cls % 10) + 10) % 10];
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int x = cx + dx, y = cy + dy;
                if (x < 0 || y < 0 || x >= SCATTER || y >= SCATTER) continue;
                memcpy(px + 3 * (y * SCATTER + x), col, 3);
            }
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/codes.png", dir);
    bool ok = rt_png_rgb(path, px, SCATTER, SCATTER, err);
    if (ok && out)
        fprintf(out, "%s: %lld codes of %lld numbers, PCA to 2-D (%.0f%% of the variance) -> %s\n", st->name,
                (long long)n, (long long)d, 100 * explained, path);
    free(proj);
    free(px);
    return ok;
}

/* Evaluates the forward graph on the first n examples and draws show and codes. */
static bool draw(const IrStage *st, const rt_stage_end *end, rt_error *err) {
    const IrGraph *g = st->forward;
    rt_dataset *ds = end->data;
    int64_t size = rt_dataset_begin_epoch(ds, end->seed, 0, false, end->limit);
    int64_t n = st->codes >= 0 ? CODES_MAX : st->show_count;
    if (n < st->show_count) n = st->show_count;
    if (n > size) n = size;
    if (n <= 0) return true;
    int ni = g->inputs.len, np = g->params.len;
    int *fields = calloc((size_t)ni + 1, sizeof *fields);
    void **inputs = calloc((size_t)ni + 1, sizeof *inputs);
    float **params = calloc((size_t)np + 1, sizeof *params);
    bool ok = fields && inputs && params;
    if (!ok) rt_fail(err, "stage %s: out of memory", st->name);
    for (int i = 0; ok && i < ni; i++) {
        fields[i] = rt_dataset_field_index(ds, g->inputs.items[i].field);
        if (fields[i] < 0) {
            rt_fail(err, "stage %s: no field %s", st->name, g->inputs.items[i].field);
            ok = false;
        } else if (!(inputs[i] = malloc((size_t)(n * rt_dataset_field_numel(ds, fields[i])) * 4 + 4))) {
            rt_fail(err, "stage %s: out of memory", st->name);
            ok = false;
        }
    }
    for (int i = 0; ok && i < np; i++) {
        const char *name = g->params.items[i].name;
        if (!(params[i] = param_data(st, end, name))) {
            rt_fail(err, "stage %s: parameter %s is not used by the stage's step, so it has no value to show",
                    st->name, name);
            ok = false;
        }
    }
    if (ok) n = rt_dataset_fill(ds, 0, n, fields, ni, inputs);
    InterpRun r = {.g = g, .B = n, .seed = end->seed, .f32 = true, .mean_masks = true, .params_f32 = params,
                   .inputs = (void *const *)inputs};
    if (ok && !interp_run(&r)) {
        rt_fail(err, "stage %s: out of memory evaluating the pictures", st->name);
        ok = false;
    }
    if (ok && st->show.len) {
        ok = write_show(st, &r, n, end->dir, err);
        if (ok && end->out) fprintf(end->out, "%s: %s/show.png\n", st->name, end->dir);
    }
    if (ok && st->codes >= 0) ok = write_codes(st, &r, n, end->dir, end->out, err);
    if (r.v) interp_run_free(&r);
    for (int i = 0; inputs && i < ni; i++) free(inputs[i]);
    free(fields);
    free(inputs);
    free(params);
    return ok;
}

/* --------------------------------------------------------- word vectors */

/* The embedding table: the one 2-D parameter of the component (lowering checked). */
static int embedding_param(const IrStage *st) {
    size_t n = strlen(st->embedding);
    for (int i = 0; i < st->graph->params.len; i++) {
        const IrParam *p = &st->graph->params.items[i];
        if (strncmp(p->name, st->embedding, n) == 0 && p->name[n] == '.' && p->shape.rank == 2) return i;
    }
    return -1;
}

static bool write_vectors(const IrStage *st, const float *e, int64_t rows, int64_t dim, const rt_dataset *ds,
                          FILE *out, rt_error *err) {
    rt_replace file;
    if (!rt_replace_begin(&file, st->vectors, "vectors", err)) return false;
    FILE *f = file.f;
    fprintf(f, "%lld %lld\n", (long long)rows, (long long)dim);
    for (int64_t i = 0; i < rows; i++) {
        fputs(rt_dataset_word(ds, i), f);
        for (int64_t k = 0; k < dim; k++) fprintf(f, " %.9g", (double)e[i * dim + k]);
        fputc('\n', f);
    }
    bool ok = rt_replace_commit(&file, err);
    if (ok && out) fprintf(out, "%s: %lld vectors of %lld -> %s\n", st->name, (long long)rows, (long long)dim,
                          st->vectors);
    return ok;
}

enum { NEIGHBOURS = 8 };

/* For each listed word, the NEIGHBOURS words of highest cosine similarity. */
static bool write_neighbours(const IrStage *st, const float *e, int64_t rows, int64_t dim, const rt_dataset *ds,
                             const char *dir, FILE *out, rt_error *err) {
    double *norm = calloc((size_t)rows + 1, sizeof *norm);
    char path[1100];
    snprintf(path, sizeof path, "%s/neighbours.txt", dir);
    rt_replace file;
    if (!norm) {
        rt_fail(err, "stage %s: out of memory for %s", st->name, path);
        return false;
    }
    if (!rt_replace_begin(&file, path, "neighbours", err)) {
        free(norm);
        return false;
    }
    FILE *f = file.f;
    for (int64_t i = 0; i < rows; i++) {
        double s = 0;
        for (int64_t k = 0; k < dim; k++) s += (double)e[i * dim + k] * e[i * dim + k];
        norm[i] = sqrt(s);
    }
    for (int w = 0; w < st->neighbours.len; w++) {
        const char *word = st->neighbours.items[w];
        int64_t id = -1;
        for (int64_t i = 0; i < rows && id < 0; i++)
            if (strcmp(rt_dataset_word(ds, i), word) == 0) id = i;
        char line[2048];
        int used = snprintf(line, sizeof line, "%s:", word);
        if (id < 0) {
            snprintf(line + used, sizeof line - (size_t)used, " not in the vocabulary");
        } else {
            int64_t best[NEIGHBOURS];
            double sim[NEIGHBOURS];
            int nb = 0;
            for (int64_t i = 0; i < rows; i++) {
                if (i == id || norm[i] == 0 || norm[id] == 0) continue;
                double s = 0;
                for (int64_t k = 0; k < dim; k++) s += (double)e[i * dim + k] * e[id * dim + k];
                s /= norm[i] * norm[id];
                if (nb == NEIGHBOURS && s <= sim[nb - 1]) continue;
                int at = nb < NEIGHBOURS ? nb++ : nb - 1;
                while (at > 0 && sim[at - 1] < s) {
                    sim[at] = sim[at - 1];
                    best[at] = best[at - 1];
                    at--;
                }
                sim[at] = s;
                best[at] = i;
            }
            for (int k = 0; k < nb && used < (int)sizeof line - 1; k++)
                used += snprintf(line + used, sizeof line - (size_t)used, " %s %.3f", rt_dataset_word(ds, best[k]),
                                 sim[k]);
        }
        fprintf(f, "%s\n", line);
        if (out) fprintf(out, "%s  %s\n", st->name, line);
    }
    free(norm);
    return rt_replace_commit(&file, err);
}

static bool export_vectors(const IrStage *st, const rt_stage_end *end, rt_error *err) {
    int p = embedding_param(st);
    const rt_dataset *ds = end->data;
    if (p < 0) {
        rt_fail(err, "stage %s: `embedding: %s` has no table here", st->name, st->embedding);
        return false;
    }
    const IrParam *ip = &st->graph->params.items[p];
    int64_t rows = ip->shape.d[0].c, dim = ip->shape.d[1].c;
    if (rt_dataset_vocab_size(ds) != rows) {
        rt_fail(err, "stage %s: %s has %lld rows but the vocabulary of its data has %lld words", st->name,
                ip->name, (long long)rows, (long long)rt_dataset_vocab_size(ds));
        return false;
    }
    const float *e = end->params[p];
    if (st->vectors && !write_vectors(st, e, rows, dim, ds, end->out, err)) return false;
    return !st->neighbours.len || write_neighbours(st, e, rows, dim, ds, end->dir, end->out, err);
}

bool present_stage_end(void *user, const rt_stage_end *end, rt_error *err) {
    const BackendStage *s = user;
    const IrStage *st = s->ir;
    if ((st->show.len || st->codes >= 0) && !draw(st, end, err)) return false;
    if (st->embedding && !export_vectors(st, end, err)) return false;
    return true;
}
