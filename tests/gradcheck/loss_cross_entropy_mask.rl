# cross_entropy with a mask over time steps [B, 3, 4]: only the positions where the mask is 1
# count (the mask made from r3's sign, so some rows have none); and an all-zero mask gives 0.
use std.nn
use std.loss

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
    logits = dense(reshape(x, [B, 3, 4]), 4)
    m = float(r3 > 0)
    minimize cross_entropy(logits, y3, mask = m) + cross_entropy(logits, y3, mask = m * 0)
}
