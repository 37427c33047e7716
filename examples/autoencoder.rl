# Idea 1: an auto-encoder with a bottleneck. 784 pixels are squeezed through 32 numbers
# (784-256-32-256-784) and the decoder has to rebuild the image from them, so the 32 numbers must
# keep what matters about it. Trained on the 60,000 training images without their labels; the
# figure is the mean squared error per pixel on the 10,000 test images (pixels in [0, 1]).
use std.nn
use std.loss

const D = 784
const Z = 32

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
}

dataset fashion_test {
    x: [784] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/t10k-labels-idx1-ubyte.gz")
}

encoder enc(x: [B, D]) -> [B, Z] {
    h = relu(dense(x, 256))
    return dense(h, Z)
}

decoder dec(z: [B, Z]) -> [B, D] {
    h = relu(dense(z, 256))
    return sigmoid(dense(h, D))
}

train reconstruct {
    data:      fashion
    batch:     128
    epochs:    10
    optimizer: adam(lr = 1e-3)
    save:      "autoencoder.rlw"
    validate:  test

    minimize mse(dec(enc(x)), x)
}

# Also run alone (`--stage test`) on the saved parameters. It draws the first 8 test images above
# their reconstructions (runs/test/show.png) and the codes of 2,000 test images projected to 2-D
# by PCA, coloured by class (runs/test/codes.png): the labels are used for the colours only.
eval test {
    data:   fashion_test
    batch:  1000
    load:   "autoencoder.rlw"
    show:   [x, xhat]
    codes:  z
    labels: y

    z = enc(x)
    xhat = dec(z)
    report mse_px = mse(xhat, x)
}
