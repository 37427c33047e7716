fn f(x: [B, 4], n: int) -> [B, 4] = x
fn g(x: [B, 4]) -> [B, 4] = f(x, sum(x))
# expect error 2:34: argument `n` of `f` must be a compile-time integer
