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

# Causal mask of t positions: [t, t], 1 where the key position (column) is at most the query
# position (row), 0 above the diagonal, so a position attends to itself and to earlier ones.
fn causal_mask(t: int) -> [t, t] = reshape(arange(t), [1, t]) <= reshape(arange(t), [t, 1])

# Scaled dot-product attention over any leading axes: softmax(q k^T / sqrt(Dq) - 1e9 (1 - mask)) v.
# mask (f32 0/1, broadcast against the [..., T, S] scores: a causal [T, S] mask, or a padding mask)
# is 1 where a query may attend to a key; -1e9 makes a masked score's weight exactly 0 after exp.
fn attention(q: [..., T, Dq], k: [..., S, Dq], v: [..., S, Dv], mask: [T, S]) -> [..., T, Dv] =
    softmax(q @ k.mT / sqrt(Dq) - 1e9 * (1 - mask)) @ v

# Multi-head self-attention over x: [B, T, D]: q, k, v = x wq + bq, x wk + bk, x wv + bv, each split
# into `heads` heads of D / heads features ([B, heads, T, D / heads]), attention per head (with the
# causal mask when causal = true: GPT; every position sees every other when false: BERT), the heads
# joined back to [B, T, D] and projected by wo + bo. Weights [D, D] Glorot-uniform, biases zeros.
layer mha(x: [B, T, D], heads: int, causal = false) -> [B, T, D] {
    param wq: [D, D] = glorot
    param bq: [D] = zeros
    param wk: [D, D] = glorot
    param bk: [D] = zeros
    param wv: [D, D] = glorot
    param bv: [D] = zeros
    param wo: [D, D] = glorot
    param bo: [D] = zeros
    q = transpose(reshape(x @ wq + bq, [B, T, heads, D / heads]), [0, 2, 1, 3])
    k = transpose(reshape(x @ wk + bk, [B, T, heads, D / heads]), [0, 2, 1, 3])
    v = transpose(reshape(x @ wv + bv, [B, T, heads, D / heads]), [0, 2, 1, 3])
    mask = 1 - causal * (1 - causal_mask(T))
    o = attention(q, k, v, mask)
    return reshape(transpose(o, [0, 2, 1, 3]), [B, T, D]) @ wo + bo
}

# Pre-norm transformer block (GPT-2's): h = x + mha(layer_norm(x)), then
# h + dense(gelu(dense(layer_norm(h), hidden)), D): an MLP of `hidden` GELU units.
layer transformer_block(x: [B, T, D], heads: int, hidden: int, causal = false) -> [B, T, D] {
    h = x + mha(layer_norm(x), heads, causal = causal)
    return h + dense(gelu(dense(layer_norm(h), hidden)), D)
}
