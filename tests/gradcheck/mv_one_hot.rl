# one_hot of labels used as weights, as the cross-entropy losses do.
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
    param q: [12, 7] = uniform(-1, 1)
    z = x @ q
    minimize -sum(one_hot(y, 7) * z * z) + sum(one_hot(y3, 7) * reshape(z, [B, 1, 7]))
}
