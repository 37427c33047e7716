# Broadcasting both ways: [B, 12] with [12], [B, 1] with [1, 12], and a scalar param.
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
    param p: [12] = uniform(-1, 1)
    param s: f32 = 0.5
    col = reshape(sum(x * p, axis = 1), [B, 1])
    row = reshape(p, [1, 12])
    minimize sum((col * row + s * x) * r12) + sum((p + x) * (p - r12) * s)
}
