fn two(x: [B]) -> ([B], [B]) = (x, x)
fn f(x: [B]) -> [B] {
    (a, b, c) = two(x)
    return a
}
# expect error 3:17: 3 names, but this gives 2 values
