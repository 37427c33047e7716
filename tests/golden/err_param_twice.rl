# Two params of one name in one body would be one stored tensor with two shapes
# (found by the mutation fuzzer: lowering took the first, the checker the second).
dataset d { x: [4] = csv("p.csv", columns = 4) }

train a {
    data: d
    param w: [3] = glorot
    param w: [4] = zeros
    minimize mean(x * w)
}

# expect error 8:5: `param w` is declared twice in `a`
