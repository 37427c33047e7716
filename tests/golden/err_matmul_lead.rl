fn f(q: [B, T, D], k: [B, T, D]) -> [B, T, T] = q @ k.T
fn g(a: [2, 3, 4], b: [5, 4, 3]) -> [2, 3, 3] = a @ b
fn h(a: [B, H, T, D], b: [D, E]) -> [B, H, T, E] = a @ b
# expect error 1:49: `@` of [B, T, D] and [D, T, B]: the inner dims differ
# expect error 2:49: `@` of [2, 3, 4] and [5, 4, 3]: the leading axes do not broadcast
