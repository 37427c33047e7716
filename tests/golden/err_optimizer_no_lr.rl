dataset d { x: [4] = csv("p.csv", columns = 4) }
train t {
    data: d
    optimizer: adam(eps = 1e-6)
    param w: [4] = zeros
    minimize mean(x * w)
}
# expect error 4:16: optimizer `adam` needs a learning rate: adam(lr = ...)
