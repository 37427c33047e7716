layer noisy(x: [B, 4]) -> [B, 4] = x * bernoulli(0.5, [B, 4])
# expect error 1:40: `bernoulli` draws random numbers: only pretext and stage bodies may, not layer `noisy`
