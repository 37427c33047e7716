dataset d { x: [4] = csv("p.csv", columns = 4) }
train t {
    data: d
    epochs: 2
    steps: 100
    param w: [4] = zeros
    minimize mean(x * w)
}
# expect error 5:5: give `epochs` or `steps`, not both
