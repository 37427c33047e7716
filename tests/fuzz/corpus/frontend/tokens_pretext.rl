use std.nn

dataset pts { x: [4] = csv("pts.csv", columns = 4) }
dataset toks = tokens("toks.txt", length = 3)

pretext noisy(x: [B, D], keep = 0.5) -> ([B, D], [B, D]) = (x * bernoulli(keep, [B, D]), x)

train ae {
    data:      pts
    batch:     16
    epochs:    3
    optimizer: adam(lr = 0.01)
    (n, c) = noisy(x, keep = 0.8)
    h = relu(dense(n, 8))
    minimize mean((dense(h, 4) - c) ^ 2)
}

train emb {
    data:      toks
    batch:     10
    epochs:    2
    optimizer: sgd(lr = 0.1, momentum = 0.9)
    param e: [toks.vocab, 5] = normal(0, 0.1)
    minimize mean(e[x] ^ 2)
}
