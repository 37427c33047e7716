fn even(x: [N]) -> [N] = odd(x)
fn odd(x: [N]) -> [N] = even(x)
# expect error 1:4: recursion is not allowed: `even` calls `odd` calls `even`
