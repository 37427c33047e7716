# conv2d with stride, padding and dilation, conv_transpose2d with output_padding, and the
# std.nn layers conv and deconv; the weights r make every output element count differently.
use std.nn

dataset d {
    x: [2, 7, 7]  = csv("x.csv", columns = 98)
    r: [3, 4, 4]  = csv("r.csv", columns = 48)
    s: [3, 7, 7]  = csv("s.csv", columns = 147)
    t: [4, 7, 7]  = csv("t.csv", columns = 196)
}

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    param w: [3, 2, 3, 3] = he
    param wt: [3, 3, 2, 2] = he
    a = conv2d(x, w, stride = 2, padding = 2, dilation = 2)           # [B, 3, 4, 4]
    b = conv_transpose2d(a, wt, 2, 1, 1)                             # [B, 3, 7, 7]
    c = deconv(conv(x, 4, 3, padding = 1), 4, 3, stride = 1, padding = 1)   # [B, 4, 7, 7]
    minimize sum(a * r) + sum(b * s) + sum(c * t)
}
