# A tensor with three axes of size B: the back end sizes buffers as polynomials
# of degree 2 in B, so lowering refuses it at the expression (rlc check lowers).
dataset d {
    x: [4] = csv("x.csv", columns = 4)
}

train t {
    data:      d
    batch:     8
    optimizer: sgd(lr = 0.1)
    a = normal(0, 1, [B, B]) + normal(0, 1, [B, 1, 1])
    minimize mean(x) + sum(a)
}

# expect error 11:9: a tensor of shape [B, B, B] grows as B^3 with the batch size; at most two axes may involve B
