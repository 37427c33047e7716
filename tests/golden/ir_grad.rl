# A pretext with randomness, and forward + backward + updates (--grad).
dataset d { x: [2] = csv("p.csv", columns = 2) }

pretext noisy(x: [B, D], keep = 0.5) -> ([B, D], [B, D]) = (x * bernoulli(keep, [B, D]), x)

train s {
    data:      d
    optimizer: adam(lr = 0.01)
    param w: [2, 2] = ones
    (n, c) = noisy(x, keep = 0.8)
    minimize mean((n @ w - c) ^ 2)
}
