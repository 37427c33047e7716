# numpy matmul: 4-D @ 4-D, 4-D @ 2-D, leading axes broadcast (a [1, 4, 3] and a 2-D left operand), .mT as a flag.
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
    param w: [4, 3] = uniform(-1, 1)
    param u: [3, 4] = uniform(-1, 1)
    h = reshape(x * p, [B, 1, 3, 4])
    k = reshape(r12 * p + p, [B, 1, 4, 3])
    s = h @ k                                   # [B, 1, 3, 3]
    t2 = h @ w                                  # [B, 1, 3, 3]: 4-D @ 2-D
    b = h @ reshape(w, [1, 4, 3])               # [1, 4, 3] broadcast over B
    l = u @ k                                   # [3, 4] @ [B, 1, 4, 3]: the left one broadcast
    m = h @ h.mT                                # [B, 1, 3, 3]
    wt = reshape(r3, [B, 1, 1, 3])
    minimize sum(s * s * wt) + sum(t2 * wt) + sum(b * b * wt) + sum(l * wt) + sum(m * wt)
}
