# batch_norm in a train stage (batch statistics, the running ones assigned by the step) and in an
# eval stage (the running statistics), over images and over vectors, with adam. eps = 0.01 on the
# vectors: three rows per feature make the normalisation ill-conditioned, and a larger eps keeps the
# float32 rounding of the two (the JIT sums in f32) within the tolerance.
dataset d {
    x: [2, 4, 4] = csv("x.csv", columns = 32)
    y: [3] = csv("y.csv", columns = 3)
}

encoder enc(x: [B, 2, 4, 4]) -> [B, 3] {
    param w: [3, 2, 3, 3] = he
    h = relu(batch_norm(conv2d(x, w, padding = 1), momentum = 0.3))
    return batch_norm(global_avg_pool(h), eps = 0.01)
}

train t {
    data: d
    batch: 5
    optimizer: adam(lr = 0.01)
    minimize mean((enc(x) - y) ^ 2)
}

eval e {
    data: d
    report err = mean((enc(x) - y) ^ 2)
}
