fn f(x: [N, 10]) -> [N] = x[:, 10]
# expect error 1:32: index 10 is out of range for axis 1 of [N, 10]
