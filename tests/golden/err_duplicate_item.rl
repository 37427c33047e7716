const K = 3
fn K(x: [N]) -> [N] = x
# expect error 2:4: `K` is declared twice
