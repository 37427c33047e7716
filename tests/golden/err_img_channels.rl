# conv2d whose weight expects other channels than the input has
fn f(x: [B, 3, 8, 8], w: [4, 2, 3, 3]) -> [B, 4, 6, 6] = conv2d(x, w)
# expect error 2:58: `conv2d`: the input has 3 channels but the weight [4, 2, 3, 3] expects 2 ([O, C, KH, KW])
