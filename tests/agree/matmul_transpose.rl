# numpy matmul over leading axes (broadcast, 4-D @ 2-D, .mT as a flag) and
# .T / .mT / transpose(x, perm), through the JIT against the interpreter.
dataset d = csv("points.csv", columns = 12)

train t {
    data: d
    optimizer: adam(lr = 0.01)
    param p: [12] = uniform(-1, 1)
    param w: [4, 3] = uniform(-1, 1)
    param u: [3, 4] = uniform(-1, 1)
    h = reshape(x * p, [B, 1, 3, 4])
    k = reshape(tanh(x + p), [B, 1, 4, 3])
    s = h @ k
    t2 = h @ w
    b = h @ reshape(w, [1, 4, 3])
    l = u @ k
    m = h @ h.mT
    a = k.T                                     # [3, 4, 1, B]
    q = transpose(h, [2, 0, -1, 1])             # [3, B, 4, 1]
    minimize mean(s * s) + mean(t2) + mean(b * b) + mean(l) + mean(m) + mean(a * a) + mean(q * transpose(k, [3, 0, 2, 1]))
}
