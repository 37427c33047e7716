fn f(x: [B, 4]) -> [B, 4] {
    param w: [4, 4] = glorot
    return x @ w
}
# expect error 2:5: `param` is only allowed in layer, encoder, decoder and stage bodies, not in fn `f`
