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

# The baseline to beat: the same bottom half for every image, whatever its top. Trained by the
# same loss, m converges to the mean bottom half of the training images (the minimiser of the
# MSE); `0 * top` only gives the prediction its batch axis.
decoder mean_bottom(top: [B, TOP]) -> [B, BOTTOM] {
    param m: [BOTTOM] = zeros
    return 0 * top + m
}

train mean_image {
    data:      fashion
    batch:     128
    epochs:    1
    optimizer: adam(lr = 1e-2)
    save:      "inpainting_mean.rlw"

    (top, bottom) = split_rows(x, TOP)
    minimize mse(mean_bottom(top), bottom)
}

train inpaint {
    data:      fashion
    batch:     128
    epochs:    10
    optimizer: adam(lr = 1e-3)
    save:      "inpainting.rlw"
    validate:  test

    (top, bottom) = split_rows(x, TOP)
    minimize mse(painter(enc(top)), bottom)
}

# The painted bottom halves against the true ones, beside the mean image's error.
# runs/test/show.png: top halves, painted bottoms, true bottoms (14 x 28 each).
eval test {
    data:       fashion_test
    batch:      1000
    load:       "inpainting.rlw"
    show:       [top, paint, bottom]
    show_width: 28

    (top, bottom) = split_rows(x, TOP)
    paint = painter(enc(top))
    report mse_px = mse(paint, bottom)
    report mse_mean = mse(mean_bottom(top), bottom)
}
