dataset d { x: [4] = csv("p.csv", columns = 4) }
train t {
    data: d
    schedule: step(every = 10)
    param w: [4] = zeros
    minimize mean(x * w)
}
# expect error 4:15: unknown schedule `step`
