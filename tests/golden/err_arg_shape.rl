const D = 784
encoder enc(x: [B, D]) -> [B, 32] = x[:, 0:32]
fn g(y: [B, 32]) -> [B, 32] = enc(y)
# expect error 3:35: argument `x` of `enc` must be [B, D] (here [B, 784]), not [B, 32]
