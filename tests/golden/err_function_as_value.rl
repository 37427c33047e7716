fn g(x: [B]) -> [B] = x
fn f(x: [B]) -> [B] = x + g
# expect error 2:27: `g` is a function: call it
