fn f(x: [N, 10]) -> [] = x[1, 2, 3]
# expect error 1:26: 3 indices for [N, 10], which has 2 axes
