/* conv_alone.c — one convolution layer's three products (forward, weight gradient, input
 * gradient), each as rlc's trainers compute it, timed alone in the process's CPU time (the
 * measure for a machine other jobs load): best of 5 rounds of 0.3 s after a warm-up.
 *     conv_alone N C H W O K PAD THREADS
 * (stride 1, dilation 1.) Prints, per product and implementation, ms per call and GFLOP/s
 * (2 O C K K N OH OW flops each):
 *   columns   rt_im2col over the batch + one rt_sgemm (the input gradient: rt_sgemm + rt_col2im)
 *   sgemm     the product alone on columns made beforehand (the roofline's figure)
 *   image     as the trainers run them: rt_conv, rt_conv_weight_grad, rt_conv_input_grad
 *             (oneDNN's convolution primitives from 16 input channels where rt_gemm runs on
 *             oneDNN, otherwise image by image on columns, Caffe's scheme)
 * Build: gcc -O2 -std=c11 bench/conv_alone.c -Iruntime build/runtime/librlrt.a -lopenblas -lz -lm
 *        -lpthread -ldl (see bench/README.md). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rlrt.h"

typedef struct Layer {
    rt_window w;
    int64_t o, taps, window;
    float *x, *weight, *dy, *cols, *y, *dw, *dx;
    rt_pool *pool;
} Layer;

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *filled(int64_t n) {
    float *f = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) f[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    return f;
}

typedef void (*Run)(Layer *l);

static void fwd_columns(Layer *l) {
    rt_im2col(l->pool, l->cols, l->x, &l->w, 0);
    rt_sgemm(l->pool, 0, 0, l->o, l->w.n * l->window, l->taps, l->weight, l->taps, l->cols, l->w.n * l->window,
             l->y, l->w.n * l->window);
}
static void fwd_sgemm(Layer *l) {
    rt_sgemm(l->pool, 0, 0, l->o, l->w.n * l->window, l->taps, l->weight, l->taps, l->cols, l->w.n * l->window,
             l->y, l->w.n * l->window);
}
static void wgrad_columns(Layer *l) {
    rt_im2col(l->pool, l->cols, l->x, &l->w, 0);
    rt_sgemm(l->pool, 0, 1, l->o, l->taps, l->w.n * l->window, l->dy, l->w.n * l->window, l->cols,
             l->w.n * l->window, l->dw, l->taps);
}
static void wgrad_sgemm(Layer *l) {
    rt_sgemm(l->pool, 0, 1, l->o, l->taps, l->w.n * l->window, l->dy, l->w.n * l->window, l->cols,
             l->w.n * l->window, l->dw, l->taps);
}
static void igrad_columns(Layer *l) {
    rt_sgemm(l->pool, 1, 0, l->taps, l->w.n * l->window, l->o, l->weight, l->taps, l->dy, l->w.n * l->window,
             l->cols, l->w.n * l->window);
    rt_col2im(l->pool, l->dx, l->cols, &l->w);
}
static void igrad_sgemm(Layer *l) {
    rt_sgemm(l->pool, 1, 0, l->taps, l->w.n * l->window, l->o, l->weight, l->taps, l->dy, l->w.n * l->window,
             l->cols, l->w.n * l->window);
}

static void fwd_per_image(Layer *l) { rt_conv(l->pool, l->y, l->weight, l->x, &l->w, l->o); }
static void wgrad_per_image(Layer *l) { rt_conv_weight_grad(l->pool, l->dw, l->dy, l->x, &l->w, l->o); }
static void igrad_per_image(Layer *l) { rt_conv_input_grad(l->pool, l->dx, l->weight, l->dy, &l->w, l->o); }

/* Best of 5 rounds of at least 0.3 s of CPU time, after one warm-up call: ms per call. */
static double best_ms(Run run, Layer *l) {
    run(l);
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        int calls = 0;
        double t0 = cpu_now(), t;
        do {
            run(l);
            calls++;
            t = cpu_now() - t0;
        } while (t < 0.3);
        if (t / calls < best) best = t / calls;
    }
    return 1e3 * best;
}

static void report(const char *product, const char *how, Run run, Layer *l) {
    double ms = best_ms(run, l), flops = 2.0 * (double)(l->o * l->taps * l->w.n * l->window);
    printf("%-6s %-8s %9.3f ms %8.1f GFLOP/s\n", product, how, ms, flops / ms / 1e6);
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fputs("usage: conv_alone N C H W O K PAD THREADS\n", stderr);
        return 2;
    }
    int64_t v[8];
    for (int i = 0; i < 8; i++) v[i] = atoll(argv[i + 1]);
    int64_t n = v[0], c = v[1], h = v[2], wd = v[3], o = v[4], k = v[5], pad = v[6];
    Layer l = {.w = {n, c, h, wd, k, k, h + 2 * pad - k + 1, wd + 2 * pad - k + 1, 1, pad, 1}, .o = o};
    l.taps = c * k * k;
    l.window = l.w.oh * l.w.ow;
    l.pool = rt_pool_create((int)v[7]);
    l.x = filled(n * c * h * wd), l.weight = filled(o * l.taps), l.dy = filled(o * n * l.window);
    l.cols = filled(l.taps * n * l.window), l.y = filled(o * n * l.window), l.dw = filled(o * l.taps);
    l.dx = filled(n * c * h * wd);
    printf("conv N=%lld C=%lld %lldx%lld O=%lld %lldx%lld pad %lld, %lld threads\n", (long long)n, (long long)c,
           (long long)h, (long long)wd, (long long)o, (long long)k, (long long)k, (long long)pad, (long long)v[7]);
    report("fwd", "columns", fwd_columns, &l);
    report("fwd", "sgemm", fwd_sgemm, &l);
    report("fwd", "image", fwd_per_image, &l);
    report("wgrad", "columns", wgrad_columns, &l);
    report("wgrad", "sgemm", wgrad_sgemm, &l);
    report("wgrad", "image", wgrad_per_image, &l);
    report("igrad", "columns", igrad_columns, &l);
    report("igrad", "sgemm", igrad_sgemm, &l);
    report("igrad", "image", igrad_per_image, &l);
    rt_pool_destroy(l.pool);
    return 0;
}
