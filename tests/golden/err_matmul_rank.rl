fn f(a: [N], b: [4, 5]) -> [N, 5] = a @ b
# expect error 1:37: `@` needs 2-D matrices (or 3-D batches), not [N] and [4, 5]
