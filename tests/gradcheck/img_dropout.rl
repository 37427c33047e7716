# dropout inside an encoder (the one random op a layer may reach): the mask is held fixed.
use std.nn

dataset d {
    x: [12] = csv("x.csv", columns = 12)
    r: [4]  = csv("r.csv", columns = 4)
}

encoder enc(x: [B, 12]) -> [B, 4] = dense(dropout(relu(dense(x, 8)), 0.3), 4)

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    minimize sum(enc(x) * r)
}
