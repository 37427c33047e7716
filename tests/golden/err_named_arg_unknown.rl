fn f(x: [B, 4], keep = 0.5) -> [B, 4] = x * keep
fn g(x: [B, 4]) -> [B, 4] = f(x, kepp = 0.2)
# expect error 2:34: `f` has no argument `kepp`
