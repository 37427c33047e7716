# Two convolutions, whose products the back end computes from the image with one image's columns
# at a time (docs/backend.md): one on the input (1 channel, dilation 2, padding 2, a non-square
# image) and one on a hidden activation (2 channels, so its input gradient flows back through the
# first); the weights r make every output element count differently.
use std.nn

dataset d {
    x: [1, 6, 5]  = csv("x.csv", columns = 30)
    r: [3, 6, 5]  = csv("r.csv", columns = 90)
}

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    param w: [2, 1, 3, 3] = he
    param b: [2, 1, 1] = zeros
    h = tanh(conv2d(x, w, padding = 2, dilation = 2) + b)      # [B, 2, 6, 5]
    y = conv(h, 3, 3, padding = 1)                              # [B, 3, 6, 5]
    minimize sum(y * r)
}
