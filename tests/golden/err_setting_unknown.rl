dataset d { x: [4] = csv("p.csv", columns = 4) }
eval e {
    data: d
    bacth: 10
    report m = mean(x)
}
# expect error 4:5: unknown setting `bacth` for an eval stage; did you mean `batch`?
