fn f(e: [V, 8], i: [N]) -> [N, 8] = e[i]
# expect error 1:39: an index must be i32, not [N]
