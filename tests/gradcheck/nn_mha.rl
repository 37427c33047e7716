# mha: multi-head self-attention over [B, 3, 4] with 2 heads of 2, causal and not (two instances).
use std.nn


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
    h = reshape(x, [B, 3, 4])
    w = reshape(r12, [B, 3, 4])
    minimize sum(mha(h, 2, causal = true) * w) + sum(mha(h * w, 2) ^ 2 * w)
}
