# einsum through each of its lowerings: a batched product (the second operand read transposed),
# a product after transposes, a 2-D product with a lone letter summed first, an outer product and
# a row dot (elementwise product and sum), a result in another order.


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
    param w: [2, 3] = uniform(-1, 1)
    q = reshape(x * p, [B, 2, 3, 2])
    k = reshape(r12 * p + p, [B, 2, 3, 2])
    wt = reshape(r12, [B, 2, 3, 2])
    s = einsum("bhtd,bhsd->bhts", q, k)                 # [B, 2, 3, 3]
    u = einsum("bhdt,bhsd->bhts", q.mT, k)              # [B, 2, 3, 3]
    m = einsum("bhtd,de->tbhe", q, w)                   # [3, B, 2, 3]
    l = einsum("bhtd,xd->bt", k, w.T)                   # [B, 3], x summed out of w first
    o = einsum("bhtd,bhse->bhtsde", q, k)               # [B, 2, 3, 3, 2, 2]
    r = einsum("bhtd,bhtd->bht", q, k)                  # [B, 2, 3]
    minimize sum(s * s * reshape(r3, [B, 1, 1, 3])) + sum(u * reshape(r3, [B, 1, 3, 1])) + sum(m * m)
             + sum(l * r3) + sum(o * reshape(wt, [B, 2, 3, 1, 2, 1])) + sum(r * wt[:, :, :, 0])
}
