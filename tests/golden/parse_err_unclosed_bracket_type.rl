encoder enc(x: [B D]) -> [B, Z] {
    h = relu(dense(x, 256))
    return h
}
const Z = 32

# expect error 1:19: expected ']' to close '[' opened at 1:16
