dataset d { x: [4] = csv("p.csv", columns = 4) }
eval e {
    data: d
    report m = mean(x, axis = 1)
}
# expect error 4:16: a reported value must be a scalar, not [B] (reduce it with mean(...))
