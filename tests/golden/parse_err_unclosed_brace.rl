fn f(x: [B]) -> [B] {
    y = x
encoder enc(x: [B, D]) -> [B, Z] = x
const C = 1 +

# expect error 3:1: expected '}' to close '{' opened at 1:21
# expect error 4:14: expected an expression, found end of file
