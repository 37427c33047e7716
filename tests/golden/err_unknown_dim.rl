layer l(x: [N, 4]) -> [N, 4] {
    param w: [4, Q] = glorot
    return x
}
# expect error 2:18: unknown dim `Q`
