# sum mean max min logsumexp with keepdims = true over each axis, a negative axis, and
# everything: the kept size-1 axis broadcasts back against h.
dataset d {
    x:   [12]   = csv("x.csv", columns = 12)
    r3:  [3]    = csv("r3.csv", columns = 3)
    r4:  [4]    = csv("r4.csv", columns = 4)
    r12: [12]   = csv("r12.csv", columns = 12)
    y:   i32    = csv("y.csv", columns = 1)
    y3:  i32[3] = csv("y3.csv", columns = 3)
}

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    param q: [3, 4] = uniform(-1, 1)
    h = reshape(x, [B, 3, 4]) * q + q
    minimize sum((h - max(h, axis = -1, keepdims = true)) * q) +
             sum(h / (1 + sum(h * h, axis = 1, keepdims = true)) * reshape(r4, [B, 1, 4])) +
             sum(mean(h, axis = 0, keepdims = true) * h * q) +
             sum(exp(h - logsumexp(h, axis = 2, keepdims = true)) * q) +
             sum(min(h, axis = -2, keepdims = true) * h * reshape(r4, [B, 1, 4])) +
             sum(sum(h, keepdims = true) * h * q)
}
