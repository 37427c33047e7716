# `/` and `//` in dims: exact and floor division with int arguments and integer hypers, in
# signatures and in expressions
const D = 12

layer pick(x: [B, N], k: int, s = 2) -> [B, (N - k) // s + 1] = x[:, 0:(N - k) // s + 1]
fn split(x: [B, N], h: int) -> [B, h, N / h] = reshape(x, [B, h, N / h])

encoder enc(x: [B, D]) -> [B, 5] = pick(x, 3)
encoder enc2(x: [B, D]) -> [B, 4, 3] = split(x, 4)
encoder enc3(x: [B, D]) -> [B, 3] = pick(x, 3, s = 4)
