fn f(a: [N, 3], b: [4, 5]) -> [N, 5] = a @ b
# expect error 1:40: `@` of [N, 3] and [4, 5]: the inner dims differ
