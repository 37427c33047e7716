dataset d { x: [4] = csv("p.csv", columns = 4) }
eval e {
    data: d
    minimize mean(x)
}
# expect error 4:5: an eval stage does not minimize: use `report`
