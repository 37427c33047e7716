fn f(x: [B]) -> [B] {
    y = g(x]
    z = [1, 2)
    return y
}

# expect error 2:12: expected ')' to close '(' opened at 2:10
# expect error 3:14: expected ']' to close '[' opened at 3:9
