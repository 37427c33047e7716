fn f(x: [B]) -> [B] {
    y = x
    ) z = y
    return y
}

# expect error 3:5: expected a statement, found ')'
