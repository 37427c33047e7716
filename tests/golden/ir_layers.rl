# Layer instances named by call site; an encoder called twice shares its
# parameters; stage params and stage-level layers are named after the stage.
dataset d {
    x: [4] = csv("points.csv", columns = 4) / 255
    y: i32 = csv("labels.csv", columns = 1)
}

layer dense(x: [B, I], n: int) -> [B, n] {
    param w: [I, n] = glorot
    param b: [n] = zeros
    return x @ w + b
}

layer block(x: [B, I], n: int) -> [B, n] = dense(relu(dense(x, n)), n)

encoder enc(x: [B, 4]) -> [B, 3] = dense(block(x, 5), 3)

train probe {
    data:      d
    batch:     16
    epochs:    2
    freeze:    [enc]
    optimizer: sgd(lr = 0.1, momentum = 0.9)
    schedule:  cosine(warmup = 10)
    validate:  test

    param t: f32 = 2.66
    a = enc(x)
    b = enc(x * 2)
    minimize mean(dense(a + b, 2)) * t
}

eval test {
    data: d
    report m = mean(enc(x))
}
