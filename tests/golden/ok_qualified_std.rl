# Qualified use of the standard library.
use std.nn as N
use std.loss as L

dataset pts {
    x: [4] = csv("points.csv", columns = 4) - 0.5
    y: i32 = npy("labels.npy")
}
decoder clf(x: [B, 4]) -> [B, 3] = N.dense(relu_like(x), 3)
fn relu_like(x: [...]) -> [...] = max(x, 0)

train fit {
    data: pts
    optimizer: sgd(lr = 0.1, momentum = 0.9)
    minimize L.cross_entropy(clf(x), y)
    report acc = L.accuracy(clf(x), y)
}
