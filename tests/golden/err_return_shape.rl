fn f(x: [B, 4]) -> [B, 4] = sum(x, axis = 1)
# expect error 1:29: `f` returns [B] here, but its result is declared [B, 4]
