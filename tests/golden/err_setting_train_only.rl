dataset d { x: [4] = csv("p.csv", columns = 4) }
eval e {
    data: d
    epochs: 3
    report m = mean(x)
}
# expect error 4:5: unknown setting `epochs` for an eval stage
