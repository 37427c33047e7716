# A leading `...` stands for the same axes across one signature.
fn scale(x: [..., D], s: [D]) -> [..., D] = x * s
fn total(x: [...]) -> f32 = sum(x)
layer proj(x: [..., I], n: int) -> [..., n] {
    param w: [I, n] = glorot
    return x @ w
}

encoder enc(x: [B, T, 6]) -> [B, T, 3] = proj(scale(x, sum(x, axis = 0)[0]), 3)
decoder f(x: [B, T, 6]) -> f32 = total(enc(x)) + total(scale(x[:, 0], x[0, 0]))
