# softmax, log_softmax, l2_normalize, layer_norm and cross_entropy along the last axis of a
# 3-D tensor [B, 3, 4]: the `[..., K]` signatures with more than one leading axis.
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
    h = reshape(dense(x, 12), [B, 3, 4])
    w = reshape(r12, [B, 3, 4])
    minimize sum(softmax(h) * w) + sum(log_softmax(h) * w * w) + sum(l2_normalize(h) * w) +
             sum(layer_norm(h) * w) + cross_entropy(h, y3)
}
