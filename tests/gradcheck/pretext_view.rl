# view on 4x4 images: shift2d, noise and mask held fixed; the gradient flows through enc.
use std.nn
use std.loss
use std.pretext

dataset d {
    x:   [12]   = csv("x.csv", columns = 12)
    r3:  [3]    = csv("r3.csv", columns = 3)
    r4:  [4]    = csv("r4.csv", columns = 4)
    r12: [12]   = csv("r12.csv", columns = 12)
    y:   i32    = csv("y.csv", columns = 1)
    y3:  i32[3] = csv("y3.csv", columns = 3)
}

encoder enc(x: [B, 16]) -> [B, 16] = dense(x, 16)

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    img = concat(x, r4, axis = 1)
    minimize mse(enc(view(img, 4, 4, shift = 1)), img)
}
