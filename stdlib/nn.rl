# std.nn — layers and activation functions, written in .rl so autodiff covers them like user code.
#
# Reductions drop the axis they reduce (numpy's rule), and a reshape can only name dims it knows,
# so the functions that normalise along an axis (softmax, log_softmax, l2_normalize, layer_norm)
# work on rows of a 2-D tensor [N, K]: N examples, K features. Element-wise ones take any shape.

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

# Table look-up: row ids[...] of an [n, dim] table initialised from N(0, 1).
layer embedding(ids: i32[...], n: int, dim: int) -> [..., dim] {
    param e: [n, dim] = normal(0, 1)
    return e[ids]
}

# Layer normalisation of each row: (x - mean) / sqrt(var + eps) * g + b, g ones, b zeros.
layer layer_norm(x: [N, D], eps = 1e-5) -> [N, D] {
    param g: [D] = ones
    param b: [D] = zeros
    xc = x - reshape(mean(x, axis = 1), [N, 1])
    var = reshape(mean(xc * xc, axis = 1), [N, 1])
    return xc / sqrt(var + eps) * g + b
}

# softmax over each row: exp(x - max) / sum(exp(x - max)); subtracting the row max keeps exp <= 1.
fn softmax(x: [N, K]) -> [N, K] {
    e = exp(x - reshape(max(x, axis = 1), [N, 1]))
    return e / reshape(sum(e, axis = 1), [N, 1])
}

# log softmax over each row: x - logsumexp(x); the built-in logsumexp subtracts the max first.
fn log_softmax(x: [N, K]) -> [N, K] = x - reshape(logsumexp(x, axis = 1), [N, 1])

# Each row scaled to unit Euclidean length: x / sqrt(sum(x^2) + eps).
fn l2_normalize(x: [N, D], eps = 1e-12) -> [N, D] =
    x / reshape(sqrt(sum(x * x, axis = 1) + eps), [N, 1])

# log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)): exp never overflows, log never sees 0.
fn log_sigmoid(x: [...]) -> [...] = min(x, 0) - log(1 + exp(-abs(x)))

# softplus(x) = log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)), stable for large |x|.
fn softplus(x: [...]) -> [...] = max(x, 0) + log(1 + exp(-abs(x)))

# GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
fn gelu(x: [...]) -> [...] = 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x ^ 3)))

# Leaky ReLU: x where x > 0, slope * x elsewhere.
fn leaky_relu(x: [...], slope = 0.01) -> [...] = max(x, slope * x)
