fn f(x: [B, 4], y: [B, 4]) -> [B, 4] = x + y
fn g(x: [B, 4]) -> [B, 4] = f(x)
# expect error 2:29: missing argument `y` of `f`
