# The issue-4 benchmark model: a 784-256-64-256-784 auto-encoder (ReLU, sigmoid output,
# mean squared error, Adam), batch 256 by default; tests/perf/perf_step overrides the batch.
# Only the step is timed, on random inputs, so the dataset is never read.
use std.nn
use std.loss

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
}

encoder enc(x: [B, 784]) -> [B, 64] {
    h = relu(dense(x, 256))
    return dense(h, 64)
}

decoder dec(z: [B, 64]) -> [B, 784] {
    h = relu(dense(z, 256))
    return sigmoid(dense(h, 784))
}

train ae {
    data:      fashion
    batch:     256
    steps:     100
    optimizer: adam(lr = 1e-3)

    minimize mse(dec(enc(x)), x)
}
