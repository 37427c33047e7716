dataset d { x: [2] = csv("p.csv", columns = 2) }
train s {
    data:       d
    optimizer:  sgd(lr = 0.1)
    save:       "s.rlw"
    save_every: 0
    param w: [2] = ones
    minimize mean(x * w)
}
eval e {
    data:       d
    save_every: 5
    param v: [2] = ones
    report m = mean(x * v)
}
# expect error 6:17: `save_every` must be a positive integer, not 0
# expect error 12:5: unknown setting `save_every` for an eval stage
