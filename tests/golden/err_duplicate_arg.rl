fn f(x: [N], x: [N]) -> [N] = x
# expect error 1:14: argument `x` is declared twice
