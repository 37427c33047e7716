const H = 0.5
fn f(x: [B, H]) -> [B, H] = x
# expect error 2:13: `H` is 0.5, not an integer, so it cannot be a dim
# expect error 2:24: `H` is 0.5, not an integer, so it cannot be a dim
