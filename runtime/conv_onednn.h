/* conv_onednn.h — image.c's convolutions on oneDNN's convolution primitives (conv_onednn.c). */
#ifndef RLC_CONV_ONEDNN_H
#define RLC_CONV_ONEDNN_H

#include "rlrt.h"

typedef enum rt_conv_kind { RT_CONV_FORWARD, RT_CONV_WEIGHT_GRAD, RT_CONV_INPUT_GRAD } rt_conv_kind;

/* The product of kind for window w with o output channels, with the operands of rt_conv
 * (a = weight, b = x), rt_conv_weight_grad (a = dy, b = x) and rt_conv_input_grad (a = weight,
 * b = dy), split over pool's threads by blocks of images when pool is not NULL. Returns false,
 * having written nothing, where rt_gemm runs on OpenBLAS, oneDNN has no primitive for the
 * shape, or the columns are measured faster (fewer than 16 input channels). */
bool rt_conv_onednn(rt_conv_kind kind, rt_pool *pool, float *out, const float *a, const float *b,
                    const rt_window *w, int64_t o);

#endif
