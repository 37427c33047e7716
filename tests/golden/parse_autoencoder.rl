# Denoising auto-encoder on Fashion-MNIST: 32 numbers per image.
use std.nn                      # dense, relu, sigmoid, ...
use std.loss                    # mse, cross_entropy, ...

const D = 784
const Z = 32

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/train-labels-idx1-ubyte.gz")
}

encoder enc(x: [B, D]) -> [B, Z] {
    h = relu(dense(x, 256))
    return dense(h, Z)
}

decoder dec(z: [B, Z]) -> [B, D] {
    h = relu(dense(z, 256))
    return sigmoid(dense(h, D))
}

pretext denoise(x: [B, D], keep = 0.7) -> ([B, D], [B, D]) {
    mask = bernoulli(keep, [B, D])      # fresh every step
    return (x * mask, x)
}

train pretrain {
    data:      fashion
    batch:     128
    epochs:    10
    optimizer: adam(lr = 1e-3)
    save:      "ae.rlw"

    (noisy, clean) = denoise(x)
    xhat = dec(enc(noisy))
    minimize mse(xhat, clean)
}
