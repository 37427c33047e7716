# mask_patches on 4x4 images of 2x2 patches (g = 2, p = 2), then the hidden-patch loss.
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
    (seen, m) = mask_patches(img, 2, 2, keep = 0.5)
    (seen2, m2) = mask_patches(enc(img), 2, 2, keep = 0.5)
    minimize hidden_mse(enc(seen), img, m, 2, 2) + mse(seen2, img)
}
