# split_rows: the gradient reaches both parts of a row.
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
    (top, bottom) = split_rows(enc(x), 5)
    minimize sum(top * r12[:, 0:5]) + sum(bottom * bottom)
}
