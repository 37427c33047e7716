dataset d { x: [4] = csv("p.csv", columns = 4) }
train t {
    data: d
    optimizer: sgd(lr = 0.1)
    param w: [4] = zeros
    minimize x * w
}
# expect error 6:14: `minimize` needs a scalar, not [B, 4]
