fn f(x: [B]) -> [B] = g(x 2)

# expect error 1:27: expected ')' to close '(' opened at 1:24
