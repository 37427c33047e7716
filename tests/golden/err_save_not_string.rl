dataset d { x: [4] = csv("p.csv", columns = 4) }
train t {
    data: d
    save: model
    param w: [4] = zeros
    minimize mean(x * w)
}
# expect error 4:11: `save` takes a file name in quotes
