dataset d { x: [4] = csv("p.csv", columns = 4) }
train t {
    data: d
    optimizer: rmsprop(lr = 0.1)
    param w: [4] = zeros
    minimize mean(x * w)
}
# expect error 4:16: unknown optimizer `rmsprop`
