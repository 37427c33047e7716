# Benchmark workload 3: one SimCLR step. MLP encoder 784-512-128, projection 128-64; two views of
# each image (random shift of up to 2 pixels, then Gaussian noise of std 0.1); NT-Xent at
# temperature 0.5; batch 256; Adam. The peer is torch_simclr.py.
use std.nn
use std.loss
use std.pretext

const D = 784

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
}

encoder enc(x: [B, D]) -> [B, 128] = relu(dense(relu(dense(x, 512)), 128))
decoder proj(h: [B, 128]) -> [B, 64] = dense(h, 64)

pretext views(x: [B, D]) -> ([B, D], [B, D]) {
    a = add_noise(shift2d(x, 28, 28, 2), std = 0.1)
    b = add_noise(shift2d(x, 28, 28, 2), std = 0.1)
    return (a, b)
}

train simclr_b256 {
    data:      fashion
    batch:     256
    steps:     100
    optimizer: adam(lr = 1e-3)

    (a, b) = views(x)
    minimize nt_xent(proj(enc(a)), proj(enc(b)), tau = 0.5)
}
