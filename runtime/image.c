/* image.c — the windows of an image batch for generated code: rt_im2col, an
 * unfold that is stored (the column matrix a convolution's sgemm reads: one
 * memcpy per row run at stride 1), and rt_col2im, the fold of IR_FOLD (the
 * gradient of a convolution's or pooling's window extraction, and
 * conv_transpose2d's scatter), which adds overlapping windows back into the
 * image. An unfold read inside another kernel (pooling) is generated inline. */
#include "rlrt.h"

#include <string.h>

typedef struct Col2im {
    float *out;
    const float *cols;
    rt_window w;
} Col2im;

/* Planes [lo, hi) of the output, plane = n * C + c: each written by one call,
 * in the same order at every split, so the sums are identical at every thread count. */
static void col2im_planes(void *arg, int64_t lo, int64_t hi) {
    const Col2im *a = arg;
    const rt_window *w = &a->w;
    int64_t plane = w->h * w->w, window = w->oh * w->ow;
    for (int64_t pl = lo; pl < hi; pl++) {
        int64_t n = pl / w->c, c = pl % w->c;
        float *img = a->out + pl * plane;
        memset(img, 0, sizeof(float) * (size_t)plane);
        for (int64_t i = 0; i < w->kh; i++)
            for (int64_t j = 0; j < w->kw; j++) {
                /* cols[c, i, j, n, :, :] */
                const float *src = a->cols + (((c * w->kh + i) * w->kw + j) * w->n + n) * window;
                for (int64_t p = 0; p < w->oh; p++) {
                    int64_t y = p * w->stride - w->pad + i * w->dil;
                    if (y < 0 || y >= w->h) continue;
                    float *row = img + y * w->w;
                    const float *s = src + p * w->ow;
                    int64_t x0 = j * w->dil - w->pad;
                    if (w->stride == 1) {
                        /* the columns q with 0 <= q + x0 < width, one contiguous run */
                        int64_t qlo = x0 < 0 ? -x0 : 0, qhi = w->w - x0 < w->ow ? w->w - x0 : w->ow;
                        for (int64_t q = qlo; q < qhi; q++) row[q + x0] += s[q];
                        continue;
                    }
                    for (int64_t q = 0; q < w->ow; q++) {
                        int64_t x = q * w->stride + x0;
                        if (x >= 0 && x < w->w) row[x] += s[q];
                    }
                }
            }
    }
}

void rt_col2im(rt_pool *pool, float *out, const float *cols, const rt_window *w) {
    Col2im a = {out, cols, *w};
    int64_t planes = w->n * w->c;
    /* Split only when the work is worth a wake-up of the pool (as codegen's loops). */
    if (planes * w->kh * w->kw * w->oh * w->ow >= (int64_t)1 << 18)
        rt_parallel_for(pool, planes, col2im_planes, &a);
    else
        col2im_planes(&a, 0, planes);
}

typedef struct Im2col {
    float *out;
    const float *x;
    rt_window w;
    float fill;
} Im2col;

/* Rows [lo, hi) of the column matrix, row = (c * kh + i) * kw + j: its n*oh
 * output rows of ow values each. A copy, so any split gives the same result. */
static void im2col_rows(void *arg, int64_t lo, int64_t hi) {
    const Im2col *a = arg;
    const rt_window *w = &a->w;
    int64_t plane = w->h * w->w, window = w->oh * w->ow;
    for (int64_t r = lo; r < hi; r++) {
        int64_t c = r / (w->kh * w->kw), i = r / w->kw % w->kh, j = r % w->kw;
        int64_t x0 = j * w->dil - w->pad;
        /* the columns q with 0 <= q*stride + x0 < width */
        int64_t qlo = x0 >= 0 ? 0 : (-x0 + w->stride - 1) / w->stride;
        int64_t qhi = w->w - x0 <= 0 ? 0 : (w->w - x0 - 1) / w->stride + 1;
        if (qhi > w->ow) qhi = w->ow;
        if (qlo > qhi) qlo = qhi;
        for (int64_t n = 0; n < w->n; n++) {
            const float *img = a->x + (n * w->c + c) * plane;
            float *dst = a->out + (r * w->n + n) * window;
            for (int64_t p = 0; p < w->oh; p++, dst += w->ow) {
                int64_t y = p * w->stride - w->pad + i * w->dil;
                if (y < 0 || y >= w->h) {
                    for (int64_t q = 0; q < w->ow; q++) dst[q] = a->fill;
                    continue;
                }
                const float *row = img + y * w->w + x0;
                for (int64_t q = 0; q < qlo; q++) dst[q] = a->fill;
                if (w->stride == 1)
                    memcpy(dst + qlo, row + qlo, sizeof(float) * (size_t)(qhi - qlo));
                else
                    for (int64_t q = qlo; q < qhi; q++) dst[q] = row[q * w->stride];
                for (int64_t q = qhi; q < w->ow; q++) dst[q] = a->fill;
            }
        }
    }
}

void rt_im2col(rt_pool *pool, float *out, const float *x, const rt_window *w, float fill) {
    Im2col a = {out, x, *w, fill};
    int64_t rows = w->c * w->kh * w->kw;
    if (rows * w->n * w->oh * w->ow >= (int64_t)1 << 18)
        rt_parallel_for(pool, rows, im2col_rows, &a);
    else
        im2col_rows(&a, 0, rows);
}
