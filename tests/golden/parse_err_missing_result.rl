fn f(x: [B]) { return x }
const OK = 1

# expect error 1:14: expected '->', found '{'
