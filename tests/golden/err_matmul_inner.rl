fn f(a: [N, 3], b: [4, 5]) -> [N, 5] = a @ b
fn g(q: [B, H, T, D], k: [B, H, T, E]) -> [B, H, T, T] = q @ k.mT
fn h(q: [B, H, T, D], w: [E, D]) -> [B, H, T, D] = q @ w
# expect error 1:40: `@` of [N, 3] and [4, 5]: the inner dims differ
# expect error 2:58: `@` of [B, H, T, D] and [B, H, E, T]: the inner dims differ
# expect error 3:52: `@` of [B, H, T, D] and [E, D]: the inner dims differ
