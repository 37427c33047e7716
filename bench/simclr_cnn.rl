# Benchmark workload 8: one SimCLR step of examples/simclr_cnn.rl: two views of each image (random
# crop of side 60-100% resized back to 28x28 by bilinear resampling, horizontal flip half the time,
# brightness times U(0.6, 1.4)), the CNN encoder conv 16 -> pool -> conv 32 -> pool (1,568
# features), projection 1568-128-64, NT-Xent at temperature 0.5, batch 256 (512 views), Adam. The peer is
# torch_simclr_cnn.py.
use std.nn
use std.loss

dataset fashion {
    x: [1, 28, 28] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
}

pretext view(x: [B, 1, 28, 28]) -> [B, 1, 28, 28] {
    s = uniform(0.6, 1, [B, 1, 1])
    top = uniform(0, 1, [B, 1, 1]) * (1 - s) * 28
    left = uniform(0, 1, [B, 1, 1]) * (1 - s) * 28
    f = bernoulli(0.5, [B, 1, 1])
    i = reshape(float(arange(28)), [1, 28, 1])
    k = reshape(float(arange(28)), [1, 1, 28])
    j = k + f * (27 - 2 * k)
    rows = relu(1 - abs(k - (top + (i + 0.5) * s - 0.5)))
    cols = relu(1 - abs(i - (left + (j + 0.5) * s - 0.5)))
    v = rows @ reshape(x, [B, 28, 28]) @ cols
    return reshape(v * uniform(0.6, 1.4, [B, 1, 1]), [B, 1, 28, 28])
}

encoder enc(x: [B, 1, 28, 28]) -> [B, 1568] {
    h = max_pool2d(relu(conv(x, 16, 3, padding = 1)), 2)
    h = max_pool2d(relu(conv(h, 32, 3, padding = 1)), 2)
    return reshape(h, [B, 32 * 7 * 7])
}

decoder proj(h: [B, 1568]) -> [B, 64] = dense(relu(dense(h, 128)), 64)

train simclr_cnn_b256 {
    data:      fashion
    batch:     256
    steps:     20
    optimizer: adam(lr = 1e-3)

    minimize nt_xent(proj(enc(view(x))), proj(enc(view(x))), tau = 0.5)
}
