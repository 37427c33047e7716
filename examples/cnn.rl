# Supervised reference on images: a small CNN on Fashion-MNIST, conv 32 -> pool -> conv 64 -> pool ->
# dense 128 -> 10 (3x3 kernels, 'same' padding, 2x2 max pooling, dropout before the last layer),
# trained on all 60,000 labelled images, evaluated by accuracy on the 10,000 test images.
use std.nn
use std.loss

dataset fashion {
    x: [1, 28, 28] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
    y: i32         = idx("fashion-mnist/train-labels-idx1-ubyte.gz")
}

dataset fashion_test {
    x: [1, 28, 28] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
    y: i32         = idx("fashion-mnist/t10k-labels-idx1-ubyte.gz")
}

encoder cnn(x: [B, 1, 28, 28]) -> [B, 10] {
    h = max_pool2d(relu(conv(x, 32, 3, padding = 1)), 2)      # [B, 32, 14, 14]
    h = max_pool2d(relu(conv(h, 64, 3, padding = 1)), 2)      # [B, 64, 7, 7]
    h = relu(dense(reshape(h, [B, 64 * 7 * 7]), 128))
    return dense(dropout(h, 0.3), 10)
}

train supervised {
    data:      fashion
    batch:     64
    epochs:    5
    optimizer: adam(lr = 1e-3)
    save:      "cnn.rlw"
    validate:  test

    logits = cnn(x)
    minimize cross_entropy(logits, y)
    report acc = accuracy(logits, y)
}

eval test {
    data:  fashion_test
    batch: 1000
    report acc = accuracy(cnn(x), y)
}
