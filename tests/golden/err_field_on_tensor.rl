fn f(x: [B, 4]) -> [B, 4] = x.W
# expect error 1:29: [B, 4] has no field `W` (only `.T` applies to tensors)
