dataset d { x: [4] = csv("p.csv", columns = 4) }
layer lin(x: [B, 4]) -> [B, 4] {
    param w: [4, 4] = glorot
    return x @ w
}
train t {
    data: d
    freeze: [lin]
    minimize mean(lin(x))
}
# expect error 8:14: `freeze` names encoders and decoders; `lin` is a layer
