dataset d { x: [4] = csv("p.csv", columns = 4) }
train a {
    data: d
    schedule: linear(warmup = -1, to = 1.5)
    param w: [4] = zeros
    minimize mean(x * w)
}
train b {
    data: d
    steps: 10
    schedule: cosine(warmup = 20, to = 0.1)
    param w: [4] = zeros
    minimize mean(x * w)
}
train c {
    data: d
    schedule: constant(warmup = 2.5, to = 0)
    param w: [4] = zeros
    minimize mean(x * w)
}
# expect error 4:31: `warmup` is a number of steps (an integer >= 0), not -1
# expect error 4:40: `to` is a fraction of the peak learning rate, in [0, 1], not 1.5
# expect error 11:31: a warm-up of 20 steps is longer than the run (`steps: 10`)
# expect error 17:38: `constant` has no argument `to`
# expect error 17:33: `warmup` is a number of steps (an integer >= 0), not 2.5
