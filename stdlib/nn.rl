# std.nn — layers and activation functions, written in .rl so autodiff covers them like user code.
#
# The functions that normalise along an axis (softmax, log_softmax, l2_normalize, layer_norm) work
# on the last axis of any shape [..., K]: a reduction with `keepdims = true` keeps that axis with
# size 1, so the result broadcasts back against x. Element-wise ones take any shape.

# Affine layer: x @ w + b over the last axis; w Glorot-uniform, b zeros.
layer dense(x: [..., I], n: int) -> [..., n] {
    param w: [I, n] = glorot
    param b: [n] = zeros
    return x @ w + b
}

# Linear map without bias: x @ w (projection heads, probes on normalised features).
layer linear(x: [..., I], n: int) -> [..., n] {
    param w: [I, n] = glorot
    return x @ w
}

# 2-D convolution over images [B, C, H, W]: conv2d with weight [out, C, k, k] (He-normal) and a bias
# [out] (zeros) per output channel.
layer conv(x: [B, C, H, W], out: int, k: int, stride = 1, padding = 0, dilation = 1)
        -> [B, out, (H + 2 * padding - dilation * (k - 1) - 1) // stride + 1,
                    (W + 2 * padding - dilation * (k - 1) - 1) // stride + 1] {
    param w: [out, C, k, k] = he
    param b: [out] = zeros
    return conv2d(x, w, stride = stride, padding = padding, dilation = dilation) + reshape(b, [out, 1, 1])
}

# Transposed 2-D convolution (the upsampling `deconv`): weight [C, out, k, k] (He-normal), bias [out].
layer deconv(x: [B, C, H, W], out: int, k: int, stride = 1, padding = 0, output_padding = 0)
        -> [B, out, (H - 1) * stride - 2 * padding + k + output_padding,
                    (W - 1) * stride - 2 * padding + k + output_padding] {
    param w: [C, out, k, k] = he
    param b: [out] = zeros
    return conv_transpose2d(x, w, stride = stride, padding = padding, output_padding = output_padding)
           + reshape(b, [out, 1, 1])
}

# batch_norm(x, momentum = 0.1, eps = 1e-5) is built in (docs/language.md): one layer for images
# [B, C, H, W] and vectors [B, D], which a .rl signature cannot say; its scale `g`, shift `b` and
# running statistics `mean`, `var` (state) are named like this file's layers' (enc.batch_norm0.g).

# Table look-up: row ids[...] of an [n, dim] table initialised from N(0, 1).
layer embedding(ids: i32[...], n: int, dim: int) -> [..., dim] {
    param e: [n, dim] = normal(0, 1)
    return e[ids]
}

# Layer normalisation over the last axis: (x - mean) / sqrt(var + eps) * g + b, g ones, b zeros.
layer layer_norm(x: [..., D], eps = 1e-5) -> [..., D] {
    param g: [D] = ones
    param b: [D] = zeros
    xc = x - mean(x, axis = -1, keepdims = true)
    var = mean(xc * xc, axis = -1, keepdims = true)
    return xc / sqrt(var + eps) * g + b
}

# softmax over the last axis: exp(x - max) / sum(exp(x - max)); subtracting the max keeps exp <= 1.
fn softmax(x: [..., K]) -> [..., K] {
    e = exp(x - max(x, axis = -1, keepdims = true))
    return e / sum(e, axis = -1, keepdims = true)
}

# log softmax over the last axis: x - logsumexp(x); the built-in logsumexp subtracts the max first.
fn log_softmax(x: [..., K]) -> [..., K] = x - logsumexp(x, axis = -1, keepdims = true)

# Each vector along the last axis scaled to unit Euclidean length: x / sqrt(sum(x^2) + eps).
fn l2_normalize(x: [..., D], eps = 1e-12) -> [..., D] = x / sqrt(sum(x * x, axis = -1, keepdims = true) + eps)

# log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)): exp never overflows, log never sees 0.
fn log_sigmoid(x: [...]) -> [...] = min(x, 0) - log(1 + exp(-abs(x)))

# softplus(x) = log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)), stable for large |x|.
fn softplus(x: [...]) -> [...] = max(x, 0) + log(1 + exp(-abs(x)))

# GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
fn gelu(x: [...]) -> [...] = 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x ^ 3)))

# Leaky ReLU: x where x > 0, slope * x elsewhere.
fn leaky_relu(x: [...], slope = 0.01) -> [...] = max(x, slope * x)
