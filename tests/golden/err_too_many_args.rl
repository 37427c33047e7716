fn f(x: [B, 4]) -> [B, 4] = x
fn g(x: [B, 4]) -> [B, 4] = f(x, x)
# expect error 2:34: `f` takes 1 argument, not 2
