layer lin(x: [B, 4]) -> [B, 4] {
    param w: [4, 4] = glorot
    return x @ w
}
loss l(x: [B, 4]) -> f32 = mean(lin(x))
# expect error 5:33: loss `l` may not have parameters, but `lin` has them
