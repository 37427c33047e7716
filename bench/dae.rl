# Benchmark workload 2: denoising auto-encoder. The same 784-256-64-256-784 network as ae.rl;
# each step masks the input with a fresh Bernoulli(0.7) draw and reconstructs the clean image.
# The peer is torch_ae.py --keep 0.7.
use std.nn
use std.loss
use std.pretext

const D = 784

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
}

encoder enc(x: [B, D]) -> [B, 64] = dense(relu(dense(x, 256)), 64)
decoder dec(z: [B, 64]) -> [B, D] = sigmoid(dense(relu(dense(z, 256)), D))

train dae_b32 {
    data:      fashion
    batch:     32
    steps:     1000
    optimizer: adam(lr = 1e-3)

    minimize mse(dec(enc(mask(x, keep = 0.7))), x)
}

train dae_b256 {
    data:      fashion
    batch:     256
    steps:     200
    optimizer: adam(lr = 1e-3)

    minimize mse(dec(enc(mask(x, keep = 0.7))), x)
}
