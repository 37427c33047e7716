# a kernel larger than the padded input: directly, and through the std.nn layer (error at the
# call, note at the layer's declared result)
use std.nn

fn f(x: [B, 1, 4, 4], w: [2, 1, 7, 7]) -> [B, 2, 1, 1] = conv2d(x, w, padding = 1)

encoder enc(x: [B, 1, 4, 4]) -> [B, 8, 1, 1] = conv(x, 8, 5)
# expect error 5:58: `conv2d`: the window (7, dilation 1) is larger than the padded input: height 4 with padding 1
# expect error 7:48: this call of `conv` would give [B, 8, 0, 0]: axis 2 has size 0
