# batch_norm in a train stage: the gradient flows through the batch's mean and variance, per channel
# of an image (over B, H, W) and per feature of a vector (over B). The running statistics are state.
use std.nn

dataset d {
    x: [2, 3, 3] = csv("x.csv", columns = 18)
    r: [3]  = csv("r.csv", columns = 3)
}

encoder enc(x: [B, 2, 3, 3]) -> [B, 3] {
    h = batch_norm(conv(x, 2, 2), momentum = 0.2)
    return batch_norm(dense(reshape(tanh(h), [B, 8]), 3), eps = 0.01)
}

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    minimize sum(tanh(enc(x)) * r)
}
