dataset d { x: [4] = csv("p.csv", columns = 4) }
eval e {
    data: d
    batch: 2.5
    report m = mean(x)
}
# expect error 4:12: `batch` must be a positive integer, not 2.5
