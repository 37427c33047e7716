dataset d { x: [4] = csv("p.csv", columns = 4) }
eval e {
    data: d
    batch: 10
    batch: 20
    report m = mean(x)
}
# expect error 5:5: setting `batch` is given twice
