# max_pool2d (plain, and with stride and padding), avg_pool2d with padding, upsample2d,
# global_avg_pool, through a convolution so each has a trained input.
use std.nn

dataset d {
    x: [2, 6, 6]   = csv("x.csv", columns = 72)
    r1: [3, 3, 3]  = csv("r1.csv", columns = 27)
    r2: [3, 3, 3]  = csv("r2.csv", columns = 27)
    r3: [3, 4, 4]  = csv("r3.csv", columns = 48)
    r4: [3, 12, 12] = csv("r4.csv", columns = 432)
    r5: [3]        = csv("r5.csv", columns = 3)
}

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    h = conv(x, 3, 3, padding = 1)                                   # [B, 3, 6, 6]
    p1 = max_pool2d(h, 2)                                            # [B, 3, 3, 3]
    p2 = max_pool2d(h, 3, stride = 2, padding = 1)                   # [B, 3, 3, 3]
    p3 = avg_pool2d(h, 3, 2, 1)                                      # [B, 3, 3, 3]
    u = upsample2d(h, 2)                                             # [B, 3, 12, 12]
    g = global_avg_pool(h)                                           # [B, 3]
    minimize sum(p1 * r1) + sum(p2 * r2) + sum(avg_pool2d(h, 2, stride = 1, padding = 1) * 0.5)
             + sum(p3 * r2) + sum(u * r4) + sum(g * r5)
}
