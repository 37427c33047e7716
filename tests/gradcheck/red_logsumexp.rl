# logsumexp over each axis, a negative axis, and everything.
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
    minimize sum(logsumexp(h, axis = 1) * r4) + sum(logsumexp(h, axis = -1) * r3) + sum(logsumexp(h, axis = 0) * q) + logsumexp(h) * logsumexp(h * h)
}
