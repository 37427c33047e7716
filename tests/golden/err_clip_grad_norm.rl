dataset d { x: [4] = csv("p.csv", columns = 4) }
train a {
    data: d
    clip_grad_norm: 0
    param w: [4] = zeros
    minimize mean(x * w)
}
train b {
    data: d
    clip_grad_norm: -1.5
    param w: [4] = zeros
    minimize mean(x * w)
}
eval c {
    data: d
    clip_grad_norm: 1
    report m = mean(x)
}
# expect error 4:21: `clip_grad_norm` is the largest norm of the gradients, a number > 0, not 0
# expect error 10:21: `clip_grad_norm` is the largest norm of the gradients, a number > 0, not -1.5
# expect error 16:5: unknown setting `clip_grad_norm` for an eval stage
