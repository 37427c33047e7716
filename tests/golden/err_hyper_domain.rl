dataset d = csv("points.csv", columns = 3)
pretext noise(x: [B, D]) -> [B, D] {
    a = bernoulli(2, [B, D])
    n = normal(0, -1, [B, D])
    u = uniform(1, 0, [B, D])
    k = float(randint(5, 1, [B, D]))
    return x * a + n + u + k
}
train t {
    data: d
    optimizer: adam(lr = -1e-3, beta1 = 2, beta2 = 1, eps = 0, weight_decay = -0.1)
    schedule: cosine(warmup = 2.5)
    minimize mean(noise(x))
}
train s {
    data: d
    optimizer: sgd(lr = 0.1, momentum = -5)
    schedule: linear(to = -1)
    minimize mean(x)
}
# expect error 3:19: `bernoulli` needs a probability in [0, 1], not 2
# expect error 4:19: `normal` needs a standard deviation of 0 or more, not -1
# expect error 5:20: `uniform` needs lo <= hi, not lo = 1 and hi = 0
# expect error 6:26: `randint` needs lo < hi, not lo = 5 and hi = 1
# expect error 11:26: `lr` must be a positive number, not -0.001
# expect error 11:41: `beta1` must be in [0, 1), not 2
# expect error 11:52: `beta2` must be in [0, 1), not 1
# expect error 11:61: `eps` must be a positive number, not 0
# expect error 11:79: `weight_decay` must be 0 or more, not -0.1
# expect error 12:31: `warmup` is a number of steps (an integer >= 0), not 2.5
# expect error 17:41: `momentum` must be in [0, 1), not -5
# expect error 18:27: `to` is a fraction of the peak learning rate, in [0, 1], not -1
