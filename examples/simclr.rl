# Idea 6: contrastive learning, SimCLR-style. Each image gives two random views (shifted by up to
# 3 pixels, Gaussian noise, 20% of the pixels dropped); the encoder and a projection head map both
# views, and NT-Xent with temperature 0.5 asks every view to find its partner among the 2B - 1
# other views of the batch. No labels are used for that. The representation (the encoder's output,
# before the projection head, as in SimCLR) is then evaluated by a linear probe: a linear
# classifier trained on the frozen encoder with the labels, tested on the 10,000 test images.
use std.nn
use std.loss
use std.pretext

const D = 784
const H = 128            # the representation
const P = 64             # the projection the loss sees
const K = 10

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/train-labels-idx1-ubyte.gz")
}

dataset fashion_test {
    x: [784] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/t10k-labels-idx1-ubyte.gz")
}

encoder enc(x: [B, D]) -> [B, H] {
    h = relu(dense(x, 512))
    return relu(dense(h, H))
}

# SimCLR's projection head g(h): a small MLP; the loss is computed on its output.
decoder proj(h: [B, H]) -> [B, P] = dense(relu(dense(h, H)), P)

# The linear probe.
decoder head(h: [B, H]) -> [B, K] = dense(h, K)

# The reference: a linear classifier on the raw pixels (logistic regression; the Fashion-MNIST
# paper reports 0.842 for it).
decoder pixels_head(x: [B, D]) -> [B, K] = dense(x, K)

train contrast {
    data:      fashion
    batch:     256
    epochs:    10
    optimizer: adam(lr = 1e-3)
    save:      "simclr.rlw"

    (a, b) = two_views(x, 28, 28, shift = 3, std = 0.1, keep = 0.8)
    minimize nt_xent(proj(enc(a)), proj(enc(b)), tau = 0.5)
}

train probe {
    data:      fashion
    batch:     128
    epochs:    10
    optimizer: adam(lr = 1e-2)
    load:      "simclr.rlw"
    freeze:    [enc]
    save:      "simclr_probe.rlw"
    validate:  test

    logits = head(enc(x))
    minimize cross_entropy(logits, y)
    report acc = accuracy(logits, y)
}

# runs/test/codes.png: the representation of 1,000 test images, PCA to 2-D, coloured by class.
eval test {
    data:   fashion_test
    batch:  1000
    load:   "simclr_probe.rlw"
    codes:  h
    labels: y

    h = enc(x)
    report acc = accuracy(head(h), y)
}

train pixels {
    data:      fashion
    batch:     128
    epochs:    10
    optimizer: adam(lr = 1e-3)
    save:      "simclr_pixels.rlw"
    validate:  pixels_test

    logits = pixels_head(x)
    minimize cross_entropy(logits, y)
    report acc = accuracy(logits, y)
}

eval pixels_test {
    data:  fashion_test
    batch: 1000
    load:  "simclr_pixels.rlw"
    report acc = accuracy(pixels_head(x), y)
}
