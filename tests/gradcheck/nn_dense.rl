# dense: x @ w + b; both w and b get gradients. The eval stage is skipped.
use std.nn

dataset d {
    x: [5] = csv("x.csv", columns = 5)
    r: [3] = csv("r.csv", columns = 3)
}

encoder enc(x: [B, 5]) -> [B, 3] = dense(x, 3)

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    minimize sum(enc(x) * r)
}

eval e {
    data: d
    report err = mean(enc(x) * r)
}
