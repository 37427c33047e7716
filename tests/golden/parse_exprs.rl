# Precedence, postfix forms, and juxtaposed statements.
fn prec(a: [N], b: [N]) -> [N] {
    c = a + b * 2 ^ 3 ^ 2 == -a ^ 2 - b / 4 @ a
    d = -x.T[0] + f(a)[1]
    e = (a + b) * (a - b)
    g = a < b
    h = a >= b
    k = a != b
    m = x[:, 0:392]
    n = x[:, 3]
    o = x[1:, :2]
    p = e[idx]
    q = reshape(v, [B, 1, E])
    r = L.mse(a, b)
    s = where(true, 1, .5)
    t = false
    u = f(x)
    (v, w) = g(u)
    y = x
    (aa, bb, cc) = split(y)
    return (v, w, [])
}
train clip {
    data: pairs
    optimizer: adamw(lr = 1e-3, weight_decay = 0.01)
    schedule: cosine(warmup = 100)
    freeze: [enc, dec]
    load: "ae.rlw"
    loss: 3
    param: 1
    param t: f32 = 2.66
    (zi, zt) = (enc(img), txt(tok))
    minimize L.clip(zi, zt, t)
    report acc = mean(argmax(zi @ zt.T, axis = 1) == arange(B))
}
eval probe_eval {
    data: fashion_test
    batch: 256
    report acc = mean(argmax(head(enc(x)), axis = 1) == y)
}
