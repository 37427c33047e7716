# A hyper-parameter overridden at the call reaches a random source out of its domain: the
# argument is only known per call, so lowering (which `rlc check` runs) names it.
dataset d { x: [3] = csv("points.csv", columns = 3) }

pretext denoise(x: [B, 3], keep = 0.7, sigma = 0.1) -> [B, 3] {
    return x * bernoulli(keep, [B, 3]) + normal(0, sigma, [B, 3])
}

train t {
    data: d
    batch: 2
    steps: 1
    param w: [3] = zeros
    minimize mean(denoise(x, keep = 2) * w)
}

train u {
    data: d
    batch: 2
    steps: 1
    param w: [3] = zeros
    minimize mean(denoise(x, sigma = -1) * w)
}

# expect error 6:26: `bernoulli` needs a probability in [0, 1], not 2
# expect error 6:52: `normal` needs a standard deviation of 0 or more, not -1
