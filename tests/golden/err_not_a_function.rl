fn f(x: [B]) -> [B] {
    y = x * 2
    return y(x)
}
# expect error 3:12: `y` is not a function
