fn f(x: [N, 10]) -> [N, 3, 4] = reshape(x, [N, 3, 4])
# expect error 1:33: cannot reshape [N, 10] (10*N elements) to [N, 3, 4] (12*N elements)
