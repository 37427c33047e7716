# einsum through each of its lowerings (batched product with the transposed flag, transposes, a 2-D
# product, a lone letter summed, an elementwise product summed), JIT against the interpreter.
dataset d = csv("points.csv", columns = 12)

train t {
    data: d
    optimizer: adam(lr = 0.01)
    param p: [12] = uniform(-1, 1)
    param w: [2, 3] = uniform(-1, 1)
    q = reshape(x * p, [B, 2, 3, 2])
    k = reshape(tanh(x + p), [B, 2, 3, 2])
    s = einsum("bhtd,bhsd->bhts", q, k)
    m = einsum("bhtd,de->tbhe", q, w)
    l = einsum("bhtd,xd->bt", k, w.T)
    o = einsum("bhtd,bhse->bhtsde", q, k)
    r = einsum("bhtd,bhtd->bht", q, k)
    minimize mean(s * s) + mean(m) + mean(l * l) + mean(o * o) + mean(r)
}
