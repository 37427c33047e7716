# Benchmark workload 7: one training step of examples/cnn.rl, the supervised CNN: conv 32 -> pool ->
# conv 64 -> pool -> dense 128 -> 10 (3x3 kernels, padding 1, 2x2 max pooling, dropout 0.3 before
# the last layer), cross-entropy, Adam, batch 64. The peer is torch_cnn.py.
use std.nn
use std.loss

dataset fashion {
    x: [1, 28, 28] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
    y: i32         = idx("fashion-mnist/train-labels-idx1-ubyte.gz")
}

encoder cnn(x: [B, 1, 28, 28]) -> [B, 10] {
    h = max_pool2d(relu(conv(x, 32, 3, padding = 1)), 2)
    h = max_pool2d(relu(conv(h, 64, 3, padding = 1)), 2)
    h = relu(dense(reshape(h, [B, 64 * 7 * 7]), 128))
    return dense(dropout(h, 0.3), 10)
}

train cnn_b64 {
    data:      fashion
    batch:     64
    steps:     100
    optimizer: adam(lr = 1e-3)

    minimize cross_entropy(cnn(x), y)
}
