layer l(x: [B, 4]) -> [B, 4] {
    param w: [4, 4] = x
    return x @ w
}
# expect error 2:23: a `param` starts as glorot, he, zeros, ones, normal(m, s), uniform(a, b) or a number
