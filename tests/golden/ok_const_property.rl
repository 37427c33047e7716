# A const made from a dataset property is a dim: usable in types and as an integer.
dataset toks = tokens("ids.txt", length = 4)
const V = toks.vocab
const W = 2 * V + 1

encoder enc(x: i32[B, 4]) -> [B, 4, W] {
    param e: [V, W] = zeros
    return e[x]
}

train t {
    data: toks
    minimize mean(enc(x)) + mean(one_hot(x, V))
}
