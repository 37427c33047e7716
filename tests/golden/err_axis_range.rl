fn f(x: [N, 10]) -> [N] = sum(x, axis = 2)
# expect error 1:41: axis 2 is out of range for [N, 10]
