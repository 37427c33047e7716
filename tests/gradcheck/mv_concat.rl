# concat along the feature axis and along the batch axis; each part gets its slice.
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
    param q: [4] = uniform(-1, 1)
    a = concat(x * p, r4 * q, axis = 1)
    b = concat(x * p, x * x, axis = 0)
    minimize sum(a * concat(r12, r4, axis = 1) * a) + sum(b * concat(r12, r12 * r12, axis = 0))
}
