pretext drop(x: [B, 4]) -> [B, 4] = x * bernoulli(0.5, [B, 4])
encoder enc(x: [B, 4]) -> [B, 4] = drop(x)
# expect error 2:36: encoder `enc` may not draw random numbers, but `drop` does
