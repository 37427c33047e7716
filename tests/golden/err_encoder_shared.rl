use "inc/blocks.rl"
encoder enc(x: [B, I]) -> [B, 4] = affine(x, 4)
decoder both(a: [3, 10], b: [3, 12]) -> [3, 4] = enc(a) + enc(b)
# expect error 3:59: encoder `enc` shares its parameters across calls, but a parameter is [12, 4] here and [10, 4] at the first call
