# Every schedule warms up; `to` is a fraction of the peak rate.
dataset d { x: [4] = csv("p.csv", columns = 4) }
train a {
    data: d
    steps: 100
    schedule: linear(warmup = 100, to = 0)
    param w: [4] = zeros
    minimize mean(x * w)
}
train b {
    data: d
    schedule: cosine(warmup = 5, to = 0.1)
    param w: [4] = zeros
    minimize mean(x * w)
}
train c {
    data: d
    schedule: constant(warmup = 3)
    param w: [4] = zeros
    minimize mean(x * w)
}
