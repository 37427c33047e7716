# Benchmark workload 1: MLP auto-encoder 784-256-64-256-784 (ReLU, sigmoid output, MSE, Adam)
# on Fashion-MNIST. The peer is torch_ae.py. The harness (run.sh) picks the stage for the batch
# size (ae_b32 or ae_b256); each stage trains for a fixed number of steps from the same start.
use std.nn
use std.loss

const D = 784

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
}

encoder enc(x: [B, D]) -> [B, 64] = dense(relu(dense(x, 256)), 64)
decoder dec(z: [B, 64]) -> [B, D] = sigmoid(dense(relu(dense(z, 256)), D))

train ae_b32 {
    data:      fashion
    batch:     32
    steps:     1000
    optimizer: adam(lr = 1e-3)

    minimize mse(dec(enc(x)), x)
}

train ae_b256 {
    data:      fashion
    batch:     256
    steps:     200
    optimizer: adam(lr = 1e-3)

    minimize mse(dec(enc(x)), x)
}
