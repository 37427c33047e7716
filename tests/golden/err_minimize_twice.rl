dataset d { x: [4] = csv("p.csv", columns = 4) }
train t {
    data: d
    param w: [4] = zeros
    minimize mean(x * w)
    minimize sum(x * w)
}
# expect error 6:5: a train stage minimizes exactly one objective
