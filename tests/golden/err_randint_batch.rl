# randint's bounds are read at lowering, which `rlc check` runs: B is not a
# compile-time number, so this is a check error at the call, not a failure at `run`.
dataset d {
    x: [4] = csv("x.csv", columns = 4)
}

train t {
    data:      d
    batch:     8
    optimizer: sgd(lr = 0.1)
    r = randint(0, B, [B])
    minimize mean(x) + mean(float(r))
}

# expect error 11:9: hi must be a compile-time number
