# nt_xent over two views [2B, E]: the diagonal mask and the partner labels.
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

encoder enc(x: [B, 12]) -> [B, 4] = dense(x, 4)

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    minimize nt_xent(enc(x), enc(x * r12), tau = 0.5)
}
