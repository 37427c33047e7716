layer dense(x: [B, I], n: int) -> [B, n] {
    param w: [I, n] glorot
    param b: [n] = zeros
    return x @ w + b
}
train t {
    data: fashion
    batch 64
    minimize mse(x, x)
}

# expect error 2:21: expected '=', found 'glorot'
# expect error 8:11: expected '=' or ':', found '64'
