fn f(x: [N, 10]) -> [N, 5] = x[:, 8:13]
# expect error 1:35: slice 8:13 is out of range for axis 1 of [N, 10]
