fn f(x: [B, 4]) -> [B] = sum(x, axes = 1)
# expect error 1:33: `sum` has no argument `axes`
