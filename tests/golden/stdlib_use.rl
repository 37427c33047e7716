# Every std.nn, std.loss and std.pretext function called with the shapes its signature promises.
use std.nn
use std.loss
use std.pretext

const D = 784

dataset pics {
    x: [784] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/t10k-labels-idx1-ubyte.gz")
}

encoder enc(x: [B, D]) -> [B, 16] {
    h = layer_norm(gelu(dense(x, 64)))
    return linear(leaky_relu(softplus(h)), 16)
}

encoder words(ids: i32[B, 3]) -> [B, 3, 16] = embedding(ids, 50, 16)

train every {
    data:      pics
    batch:     32
    steps:     1
    optimizer: adam(lr = 1e-3)

    param t: f32 = 2.66
    (a, b) = two_views(x, 28, 28)
    (seen, m) = mask_patches(x, 7, 4)
    (top, bottom) = split_rows(x, 392)
    z = enc(view(add_noise(mask(x)), 28, 28))
    w = words(randint(0, 50, [B, 3]))
    p = softmax(z)
    minimize mse(z, z) + bce(z, p) + cross_entropy(z, y) + hidden_mse(seen, x, m, 7, 4) - mean(log_sigmoid(z))
        + negative_sampling(z, enc(a), w) + info_nce(z, enc(b)) + nt_xent(enc(a), enc(b), tau = 0.2)
        + clip_loss(l2_normalize(z), log_softmax(z), t) + mean(top) * mean(bottom)
    report acc = accuracy(z, y)
}
