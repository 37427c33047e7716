fn f(a: [N], b: [4, 5]) -> [N, 5] = a @ b
# expect error 1:37: `@` multiplies the last two axes: it needs at least 2 axes on each side, not [N] and [4, 5]
