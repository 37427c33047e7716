fn f(a: [N, 3], b: [M, 4]) -> [N, 7] = concat(a, b, axis = 1)
# expect error 1:40: `concat` along axis 1 needs the other axes equal: [N, 3] and [M, 4]
