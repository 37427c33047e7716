fn pair(x: [B, 4], y: [B, 4]) -> [B, 4] = x + y
fn g(a: [128, 4], b: [64, 4]) -> [128, 4] = pair(a, b)
# expect error 2:53: `B` is 128 from argument `x` but 64 from argument `y` of `pair`
