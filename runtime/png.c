/* png.c — image output: grayscale grids of images through stb_image_write,
 * written by whole-file replacement so a killed run never leaves half a PNG. */
#include "rlrt.h"
#include "fileio.h"

#include <stdlib.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"
#pragma GCC diagnostic pop

static void append_to_file(void *f, void *data, int size) { fwrite(data, 1, (size_t)size, f); }

static bool write_png(const char *path, int w, int h, int channels, const unsigned char *px, rt_error *err) {
    rt_replace out;
    if (!rt_replace_begin(&out, path, "picture", err)) return false;
    if (!stbi_write_png_to_func(append_to_file, out.f, w, h, channels, px, w * channels)) {
        rt_replace_abort(&out);
        rt_fail(err, "%s: cannot encode the PNG", path);
        return false;
    }
    return rt_replace_commit(&out, err);
}

bool rt_png_grid(const char *path, const float *images, int64_t n, int64_t h, int64_t w,
                 int64_t cols, rt_error *err) {
    if (n <= 0 || h <= 0 || w <= 0 || cols <= 0) {
        rt_fail(err, "%s: nothing to draw (%lld images of %lldx%lld)", path, (long long)n,
                (long long)h, (long long)w);
        return false;
    }
    if (cols > n) cols = n;
    int64_t rows = (n + cols - 1) / cols;
    int64_t W = cols * (w + 1) - 1, H = rows * (h + 1) - 1; /* 1-pixel gaps */
    if (W > 32768 || H > 32768) {
        rt_fail(err, "%s: a %lldx%lld grid is too large", path, (long long)W, (long long)H);
        return false;
    }
    unsigned char *px = calloc((size_t)(W * H), 1);
    if (!px) {
        rt_fail(err, "%s: out of memory", path);
        return false;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t y0 = (i / cols) * (h + 1), x0 = (i % cols) * (w + 1);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                float v = images[i * h * w + y * w + x];
                v = v != v ? 0.0f : v < 0 ? 0.0f : v > 1 ? 1.0f : v;
                px[(y0 + y) * W + x0 + x] = (unsigned char)(v * 255.0f + 0.5f);
            }
    }
    bool ok = write_png(path, (int)W, (int)H, 1, px, err);
    free(px);
    return ok;
}

bool rt_png_rgb(const char *path, const unsigned char *rgb, int64_t w, int64_t h, rt_error *err) {
    if (w <= 0 || h <= 0 || w > 32768 || h > 32768) {
        rt_fail(err, "%s: cannot draw a %lldx%lld image", path, (long long)w, (long long)h);
        return false;
    }
    return write_png(path, (int)w, (int)h, 3, rgb, err);
}
