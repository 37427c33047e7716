fn f(a: [B, 32], b: [B, 64]) -> [B, 32] = a + b
# expect error 1:43: shapes [B, 32] and [B, 64] do not broadcast in `+`
