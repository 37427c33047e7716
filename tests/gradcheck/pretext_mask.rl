# mask: the Bernoulli draw is held fixed, so the gradient flows through x * mask.
use std.nn
use std.loss
use std.pretext

dataset d {
    x:   [12]   = csv("x.csv", columns = 12)
    r3:  [3]    = csv("r3.csv", columns = 3)
    r4:  [4]    = csv("r4.csv", columns = 4)
    r12: [12]   = csv("r12.csv", columns = 12)
    y:   i32    = csv("y.csv", columns = 1)
    y3:  i32[3] = csv("y3.csv", columns = 3)
}

encoder enc(x: [B, 12]) -> [B, 12] = dense(x, 12)

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    minimize mse(enc(mask(x, keep = 0.5)), x) + mse(mask(enc(x), keep = 0.5), r12)
}
