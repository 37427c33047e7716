dataset d { x: [4] = csv("p.csv", columns = 4) }
eval e {
    data: d
    report m = mean(d)
}
# expect error 4:21: `d` is a dataset, not a value: stages see its fields
