# attention(q, k, v, mask) over two leading axes ([B, 2, 3, 2]), with the causal mask and with a
# mask read from the data (r3 > 0.5 per key column), so the masked scores' -1e9 is exercised.
use std.nn


dataset d {
    x:   [12]   = csv("x.csv", columns = 12)
    r3:  [3]    = csv("r3.csv", columns = 3)
    r4:  [4]    = csv("r4.csv", columns = 4)
    r12: [12]   = csv("r12.csv", columns = 12)
    y:   i32    = csv("y.csv", columns = 1)
    y3:  i32[3] = csv("y3.csv", columns = 3)
}

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    param p: [12] = uniform(-1, 1)
    q = reshape(x * p, [B, 2, 3, 2])
    k = reshape(r12 * p + p, [B, 2, 3, 2])
    v = reshape(tanh(x + p), [B, 2, 3, 2])
    a = attention(q, k, v, causal_mask(3))
    keep = reshape(arange(3), [3, 1]) == reshape(arange(3), [1, 3])
    c = attention(q, k * 2, v, max(keep, causal_mask(3).mT))
    w = reshape(r12, [B, 2, 3, 2])
    minimize sum(a * w) + sum(c * c * w)
}
