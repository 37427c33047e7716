# .T reverses every axis, .mT swaps the last two, transpose(x, perm) permutes.
# @ batched over a leading axis: [B, 3, 4] @ [B, 4, 3].
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
    h = reshape(x * p, [B, 2, 3, 2])
    a = h.T                                     # [2, 3, 2, B]
    m = h.mT                                    # [B, 2, 2, 3]
    q = transpose(h, [2, 0, -1, 1])             # [3, B, 2, 2]
    w = reshape(r12, [B, 2, 3, 2])
    minimize sum(a * transpose(w, [3, 2, 1, 0]) * a) + sum(m * w.mT) + sum(q * q * transpose(w, [2, 0, 3, 1]))
}
