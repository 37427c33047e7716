# stop_gradient beside the path around it: held at its base-point value in the differences.
# @ batched over a leading axis: [B, 3, 4] @ [B, 4, 3].
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
    h = x @ q
    minimize mean((h - stop_gradient(h * 2)) ^ 2 * r3) + mean(h * stop_gradient(tanh(h)))
}
