# Tuples are built by return and taken apart by assignment; loss returns a scalar.
dataset pts { x: [3] = csv("points.csv", columns = 3) }

pretext views(x: [B, D], keep = 0.5) -> ([B, D], [B, D]) {
    a = x * bernoulli(keep, [B, D])
    b = x + normal(0, 0.1, [B, D])
    return (a, b)
}
encoder enc(x: [B, 3]) -> [B, 2] = x[:, 0:2]
loss gap(a: [N, E], b: [N, E]) -> f32 = mean((a - b) ^ 2)

train t {
    data: pts
    batch: 16
    steps: 10
    optimizer: adamw(lr = 1e-3, weight_decay = 0.01)
    schedule: cosine(warmup = 2)
    param s: f32 = 1
    (u, v) = views(x, keep = 0.8)
    minimize gap(enc(u), enc(v)) * s
    report n = float(B)
}
