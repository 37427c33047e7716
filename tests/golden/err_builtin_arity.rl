fn f(x: [B, 4]) -> [B, 4] = exp(x, x)
# expect error 1:29: `exp` takes 1 argument, not 2
