/* The convolution products of runtime/image.c made image by image (rt_conv,
 * rt_conv_weight_grad, rt_conv_input_grad) against sums written from the definition
 * (PyTorch's conv2d and its two gradients), with stride, padding, dilation, several channels
 * and non-square images; split over 2 threads: the forward and input gradient the same bits
 * as on 1, the weight gradient (a split product) within the same tolerance. Run as it is
 * (oneDNN's convolutions from 16 input channels) and with RLC_GEMM=openblas (columns only). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rlrt.h"

static float *random_floats(int64_t n, uint64_t seed) {
    float *f = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        f[i] = (float)((double)(seed >> 33) / 2147483648.0 * 2 - 1);
    }
    return f;
}

/* x [n, c, h, w] at (n, c, y, v), 0 outside the image. */
static double pixel(const float *x, const rt_window *w, int64_t n, int64_t c, int64_t y, int64_t v) {
    if (y < 0 || y >= w->h || v < 0 || v >= w->w) return 0;
    return x[((n * w->c + c) * w->h + y) * w->w + v];
}

static void expect_close(const float *got, const double *want, int64_t count, double largest) {
    for (int64_t i = 0; i < count; i++)
        if (fabs(got[i] - want[i]) > 1e-5 * fmax(largest, 1))
            fail_msg("element %lld: %.9g, expected %.9g", (long long)i, got[i], want[i]);
}

/* Forward and weight gradient of window w with o output channels: against the
 * definition on 1 and on 2 threads, the forward bit-equal. */
static void check_window(rt_window w, int64_t o) {
    int64_t taps = w.c * w.kh * w.kw, outs = o * w.n * w.oh * w.ow;
    float *x = random_floats(w.n * w.c * w.h * w.w, 1), *weight = random_floats(o * taps, 2);
    float *dy = random_floats(outs, 3);
    int64_t image = w.n * w.c * w.h * w.w;
    double *want_y = calloc((size_t)outs, sizeof(double)), *want_dw = calloc((size_t)(o * taps), sizeof(double));
    double *want_dx = calloc((size_t)image, sizeof(double));
    double largest_y = 0, largest_dw = 0, largest_dx = 0;
    for (int64_t oc = 0; oc < o; oc++)
        for (int64_t n = 0; n < w.n; n++)
            for (int64_t p = 0; p < w.oh; p++)
                for (int64_t q = 0; q < w.ow; q++) {
                    int64_t at = ((oc * w.n + n) * w.oh + p) * w.ow + q;
                    for (int64_t t = 0; t < taps; t++) {
                        int64_t c = t / (w.kh * w.kw), i = t / w.kw % w.kh, j = t % w.kw;
                        int64_t y = p * w.stride - w.pad + i * w.dil, v = q * w.stride - w.pad + j * w.dil;
                        double px = pixel(x, &w, n, c, y, v);
                        want_y[at] += weight[oc * taps + t] * px;
                        want_dw[oc * taps + t] += dy[at] * px;
                        if (y >= 0 && y < w.h && v >= 0 && v < w.w)
                            want_dx[((n * w.c + c) * w.h + y) * w.w + v] += weight[oc * taps + t] * dy[at];
                    }
                }
    for (int64_t i = 0; i < outs; i++) largest_y = fmax(largest_y, fabs(want_y[i]));
    for (int64_t i = 0; i < o * taps; i++) largest_dw = fmax(largest_dw, fabs(want_dw[i]));
    for (int64_t i = 0; i < image; i++) largest_dx = fmax(largest_dx, fabs(want_dx[i]));
    float *dx1 = malloc(sizeof(float) * (size_t)image), *dx2 = malloc(sizeof(float) * (size_t)image);
    float *y1 = malloc(sizeof(float) * (size_t)outs), *y2 = malloc(sizeof(float) * (size_t)outs);
    float *dw1 = malloc(sizeof(float) * (size_t)(o * taps)), *dw2 = malloc(sizeof(float) * (size_t)(o * taps));
    rt_pool *one = rt_pool_create(1), *two = rt_pool_create(2);
    rt_conv(one, y1, weight, x, &w, o);
    rt_conv(two, y2, weight, x, &w, o);
    rt_conv_weight_grad(one, dw1, dy, x, &w, o);
    rt_conv_weight_grad(two, dw2, dy, x, &w, o);
    expect_close(y1, want_y, outs, largest_y);
    expect_close(dw1, want_dw, o * taps, largest_dw);
    expect_close(dw2, want_dw, o * taps, largest_dw);
    assert_memory_equal(y1, y2, sizeof(float) * (size_t)outs);
    /* On oneDNN (16 input channels and more) the weight gradient's blocks of images are the
     * same at every thread count and added in order: the same bits too. */
    if (w.c >= 16 && strcmp(rt_gemm_library(), "oneDNN") == 0)
        assert_memory_equal(dw1, dw2, sizeof(float) * (size_t)(o * taps));
    rt_conv_input_grad(one, dx1, weight, dy, &w, o);
    rt_conv_input_grad(two, dx2, weight, dy, &w, o);
    expect_close(dx1, want_dx, image, largest_dx);
    assert_memory_equal(dx1, dx2, sizeof(float) * (size_t)image);
    free(want_dx), free(dx1), free(dx2);
    rt_pool_destroy(one);
    rt_pool_destroy(two);
    free(x), free(weight), free(dy), free(want_y), free(want_dw), free(y1), free(y2), free(dw1), free(dw2);
}

static rt_window window(int64_t n, int64_t c, int64_t h, int64_t wd, int64_t k, int64_t stride, int64_t pad,
                        int64_t dil) {
    return (rt_window){n, c, h, wd, k, k, (h + 2 * pad - dil * (k - 1) - 1) / stride + 1,
                       (wd + 2 * pad - dil * (k - 1) - 1) / stride + 1, stride, pad, dil};
}

static void test_conv_meaning(void **state) {
    (void)state;
    check_window(window(3, 1, 6, 5, 3, 1, 1, 1), 4);   /* same padding */
    check_window(window(2, 2, 7, 9, 3, 1, 2, 2), 3);   /* dilation, wider padding */
    check_window(window(2, 3, 8, 6, 3, 2, 1, 1), 5);   /* RGB at stride 2 */
    check_window(window(1, 1, 9, 4, 1, 1, 0, 1), 2);   /* 1x1 */
    check_window(window(2, 20, 5, 5, 3, 1, 1, 1), 3);  /* 180 taps: several blocks of rows */
}

/* Large enough to split over images and over blocks of column rows (2^23 multiply-adds);
 * with oneDNN (16 channels and more) two blocks of 32 images and a tail of 6, each its own
 * primitive call, the weight gradient's partial sums added in block order. */
static void test_conv_split(void **state) {
    (void)state;
    check_window(window(70, 16, 14, 14, 3, 1, 1, 1), 16);
    check_window(window(33, 16, 9, 7, 3, 2, 1, 2), 8); /* stride, dilation, a tail of one image */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_meaning),
        cmocka_unit_test(test_conv_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
