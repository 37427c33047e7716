dataset d { x: [4] = csv("p.csv", columns = 4) }
train t {
    data: d
    optimizer: sgd(lr = 0.1, beta1 = 0.9)
    param w: [4] = zeros
    minimize mean(x * w)
}
# expect error 4:30: `sgd` has no argument `beta1`
