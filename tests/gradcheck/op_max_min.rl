# elementwise max and min: the winner gets the gradient, from either side.
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
    param q: [12] = uniform(-1, 1)
    minimize sum(max(x * p, q) * r12) + sum(min(p, x * q) * x)
    # exact ties (a value against itself): each side gets half
        + sum(max(x * p, x * p) * r12) + sum(min(q * x, x * q) * r12)
}
