# Idea 3: context prediction (inpainting). The network sees only the top half of each image
# (rows 0-13: the first 392 pixels) and must paint the bottom half (rows 14-27). No labels: the
# image supplies its own target, and to predict a sleeve or a sole from the rest the code of the
# top half has to know what kind of garment it is looking at.
use std.nn
use std.loss
use std.pretext

const TOP = 392          # 14 rows of 28 pixels
const BOTTOM = 392
const Z = 64

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
}

dataset fashion_test {
    x: [784] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
}

encoder enc(top: [B, TOP]) -> [B, Z] {
    h = relu(dense(top, 256))
    return dense(h, Z)
}

decoder painter(z: [B, Z]) -> [B, BOTTOM] {
    h = relu(dense(z, 256))
    return sigmoid(dense(h, BOTTOM))
}

train inpaint {
    data:      fashion
    batch:     128
    epochs:    20
    optimizer: adam(lr = 1e-3)
    save:      "inpainting.rlw"
    validate:  test

    (top, bottom) = split_rows(x, TOP)
    minimize mse(painter(enc(top)), bottom)
}

eval test {
    data:  fashion_test
    batch: 1000
    (top, bottom) = split_rows(x, TOP)
    report mse_px = mse(painter(enc(top)), bottom)
}
