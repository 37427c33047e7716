fn f(x: [B]) -> [B] {
    y = x * 2
}
# expect error 1:4: `f` does not return a value
