# dropout's p outside [0, 1), a zero stride, output_padding not below the stride, pooling padding
# above half the window, an image of the wrong rank
fn a(x: [B, 10]) -> [B, 10] = dropout(x, 1)
fn b(x: [B, 3, 8, 8], w: [4, 3, 3, 3]) -> [B, 4, 6, 6] = conv2d(x, w, stride = 0)
fn c(x: [B, 3, 8, 8], w: [3, 4, 3, 3]) -> [B, 4, 18, 18] = conv_transpose2d(x, w, 2, 0, 2)
fn d(x: [B, 3, 8, 8]) -> [B, 3, 5, 5] = max_pool2d(x, 2, padding = 2)
fn e(x: [B, 64]) -> [B, 64] = max_pool2d(x, 2)
# expect error 3:42: `p` of `dropout` is a probability in [0, 1), not 1
# expect error 4:80: `stride` of `conv2d` must be at least 1, not 0
# expect error 5:89: `output_padding` of `conv_transpose2d` must be smaller than the stride 2, not 2
# expect error 6:68: `padding` of `max_pool2d` must be at most half the window (2), not 2
# expect error 7:42: `max_pool2d` needs an input of f32 [B, C, H, W], not [B, 64]
