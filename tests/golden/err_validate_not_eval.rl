dataset d { x: [4] = csv("p.csv", columns = 4) }
train a {
    data: d
    param w: [4] = zeros
    minimize mean(x * w)
}
train t {
    data: d
    validate: a
    param w: [4] = zeros
    minimize mean(x * w)
}
# expect error 9:15: `validate` names an eval stage; `a` is a train stage
