# Supervised reference: an MLP classifier 784-256-128-10 on Fashion-MNIST, trained on all 60,000
# labelled images with softmax cross-entropy, evaluated by accuracy on the 10,000 test images.
# The other examples learn without labels; this is the figure they are compared with.
use std.nn
use std.loss

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/train-labels-idx1-ubyte.gz")
}

dataset fashion_test {
    x: [784] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/t10k-labels-idx1-ubyte.gz")
}

encoder classifier(x: [B, 784]) -> [B, 10] {
    h1 = relu(dense(x, 256))
    h2 = relu(dense(h1, 128))
    return dense(h2, 10)
}

train supervised {
    data:      fashion
    batch:     128
    epochs:    15
    optimizer: adam(lr = 1e-3)
    save:      "mlp.rlw"
    validate:  test

    logits = classifier(x)
    minimize cross_entropy(logits, y)
    report acc = accuracy(logits, y)
}

eval test {
    data:  fashion_test
    batch: 1000
    report acc = accuracy(classifier(x), y)
}
