fn f(x: [B, 4]) -> ([B, 4], [B, 4]) = x
# expect error 1:39: `f` returns 2 values, not one
