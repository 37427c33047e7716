encoder enc(x: [B, D]) -> [B, Z] {
    h = relu(dense(x, 256)
    return dense(h, Z)
}

# expect error 2:27: expected ')' to close '(' opened at 2:13
