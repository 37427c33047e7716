/* image.c — the windows of an image batch for generated code: rt_im2col, an
 * unfold that is stored (the column matrix a convolution's sgemm reads: one
 * memcpy per row run at stride 1), and rt_col2im, the fold of IR_FOLD (the
 * gradient of a convolution's or pooling's window extraction, and
 * conv_transpose2d's scatter), which adds overlapping windows back into the
 * image. An unfold read inside another kernel (pooling) is generated inline. */
#include "conv_onednn.h"
#include "rlrt.h"

#include <stdio.h>
#include <stdlib.h>
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

/* ------------------------------------------------- convolution over per-image columns */

/* A convolution's products over the whole batch read columns of c*kh*kw x n*oh*ow floats
 * (14 MB for 64 images of 32 channels at 14x14, 58 MB for SimCLR's 512 views): written by
 * rt_im2col, read back by sgemm's packing, kept from the forward to the backward. Image by
 * image (Caffe's scheme) the columns are c*kh*kw x oh*ow (225 KB there): written and read
 * back while they are in the L2 cache, and recomputed for the weight gradient instead of
 * kept. Each image's product writes its block of the output [o, n*oh*ow] (ldc = n*oh*ow). */

/* One image's columns (taps x oh*ow floats). Out of memory ends the process with a
 * message: a kernel has no way to fail a step. */
static float *image_columns(const rt_window *w) {
    size_t bytes = sizeof(float) * (size_t)(w->c * w->kh * w->kw * w->oh * w->ow);
    float *cols = malloc(bytes ? bytes : 1);
    if (!cols) {
        fprintf(stderr, "rlc: out of memory: %zu bytes for a convolution's columns\n", bytes);
        exit(1);
    }
    return cols;
}

typedef struct ConvCols {
    float *out;
    const float *a; /* the weights [o, taps] or the output gradient [o, n*oh*ow] */
    const float *x;
    rt_window w;
    int64_t o;
} ConvCols;

/* Rows [r0, r1) of image n's columns, at their place in cols [taps, oh*ow]. */
static void columns_of_image(float *cols, const ConvCols *a, int64_t n, int64_t r0, int64_t r1) {
    Im2col one = {cols, a->x + n * a->w.c * a->w.h * a->w.w, a->w, 0};
    one.w.n = 1;
    im2col_rows(&one, r0, r1);
}

/* Images [lo, hi): out[:, n] = weights @ columns(n), one sgemm each. */
static void conv_images(void *arg, int64_t lo, int64_t hi) {
    const ConvCols *a = arg;
    const rt_window *w = &a->w;
    int64_t taps = w->c * w->kh * w->kw, window = w->oh * w->ow;
    float *cols = image_columns(w);
    for (int64_t n = lo; n < hi; n++) {
        columns_of_image(cols, a, n, 0, taps);
        rt_gemm(false, false, a->o, window, taps, a->a, taps, cols, window, 0.0f, a->out + n * window,
                w->n * window);
    }
    free(cols);
}

/* Column rows [lo, hi) in blocks of RT_CONV_ROWS: out[:, rows] = the sum over the images, in
 * order, of dy[:, n] @ columns(n)[rows]^T (sgemm with beta = 1 after the first image). */
static void conv_weight_rows(void *arg, int64_t lo, int64_t hi) {
    const ConvCols *a = arg;
    const rt_window *w = &a->w;
    int64_t taps = w->c * w->kh * w->kw, window = w->oh * w->ow;
    int64_t r0 = lo * RT_CONV_ROWS, r1 = hi * RT_CONV_ROWS < taps ? hi * RT_CONV_ROWS : taps;
    float *cols = image_columns(w);
    for (int64_t n = 0; n < w->n; n++) {
        columns_of_image(cols, a, n, r0, r1);
        rt_gemm(false, true, a->o, r1 - r0, window, a->a + n * window, w->n * window, cols + r0 * window, window,
                n ? 1.0f : 0.0f, a->out + r0, taps);
    }
    free(cols);
}

/* Images [lo, hi): dx[n] = col2im(weights^T @ dy[:, n]), the columns in cache between. */
static void conv_input_images(void *arg, int64_t lo, int64_t hi) {
    const ConvCols *a = arg;
    const rt_window *w = &a->w;
    int64_t taps = w->c * w->kh * w->kw, window = w->oh * w->ow;
    float *cols = image_columns(w);
    Col2im one = {NULL, cols, *w};
    one.w.n = 1;
    for (int64_t n = lo; n < hi; n++) {
        rt_gemm(true, false, taps, window, a->o, a->a, taps, a->x + n * window, w->n * window, 0.0f, cols,
                window);
        one.out = a->out + n * w->c * w->h * w->w;
        col2im_planes(&one, 0, w->c);
    }
    free(cols);
}

/* Split over the pool when each of two parts keeps rt_sgemm's 2^22 multiply-adds. */
static bool conv_split(const rt_window *w, int64_t o) {
    return o * w->c * w->kh * w->kw * w->n * w->oh * w->ow >= (int64_t)1 << 23;
}

void rt_conv(rt_pool *pool, float *out, const float *weight, const float *x, const rt_window *w, int64_t o) {
    ConvCols a = {out, weight, x, *w, o};
    if (w->n <= 0 || o <= 0) return;
    if (rt_conv_onednn(RT_CONV_FORWARD, conv_split(w, o) ? pool : NULL, out, weight, x, w, o)) return;
    if (conv_split(w, o)) rt_parallel_for(pool, w->n, conv_images, &a);
    else conv_images(&a, 0, w->n);
}

void rt_conv_weight_grad(rt_pool *pool, float *out, const float *dy, const float *x, const rt_window *w,
                         int64_t o) {
    ConvCols a = {out, dy, x, *w, o};
    int64_t taps = w->c * w->kh * w->kw, blocks = (taps + RT_CONV_ROWS - 1) / RT_CONV_ROWS;
    if (o <= 0) return;
    if (w->n <= 0) {
        memset(out, 0, sizeof(float) * (size_t)(o * taps));
        return;
    }
    if (rt_conv_onednn(RT_CONV_WEIGHT_GRAD, conv_split(w, o) ? pool : NULL, out, dy, x, w, o)) return;
    if (conv_split(w, o)) rt_parallel_for(pool, blocks, conv_weight_rows, &a);
    else conv_weight_rows(&a, 0, blocks);
}

void rt_conv_input_grad(rt_pool *pool, float *out, const float *weight, const float *dy, const rt_window *w,
                        int64_t o) {
    ConvCols a = {out, weight, dy, *w, o};
    if (w->n <= 0) return;
    if (o <= 0) {
        memset(out, 0, sizeof(float) * (size_t)(w->n * w->c * w->h * w->w));
        return;
    }
    if (rt_conv_onednn(RT_CONV_INPUT_GRAD, conv_split(w, o) ? pool : NULL, out, weight, dy, w, o)) return;
    if (conv_split(w, o)) rt_parallel_for(pool, w->n, conv_input_images, &a);
    else conv_input_images(&a, 0, w->n);
}
