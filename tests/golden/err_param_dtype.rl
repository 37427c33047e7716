layer l(x: [B, 4]) -> [B, 4] {
    param w: i32[4] = zeros
    return x
}
# expect error 2:14: a `param` is an f32 tensor of known shape, not i32[4]
