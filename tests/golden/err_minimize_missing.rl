dataset d { x: [4] = csv("p.csv", columns = 4) }
train t {
    data: d
    report m = mean(x)
}
# expect error 2:7: train stage `t` has no `minimize`
