fn f(x: [B, 4], keep = 0.5) -> [B, 4] = x * keep
fn g(x: [B, 4]) -> [B, 4] = f(x, keep = mean(x))
# expect error 2:41: `keep` of `f` is a compile-time number; this is not
