# @ of 2-D tensors, with either side transposed.
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
    param q: [12, 3] = uniform(-1, 1)
    param k: [3, 3] = uniform(-1, 1)
    h = x @ q
    minimize sum((h @ k) * r3) + sum((r3 @ q.T) * x) + sum((x.T @ r3) * q) + sum(h @ k.T @ (q.T @ q))
}
