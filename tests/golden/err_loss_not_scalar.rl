loss l(x: [B, 4]) -> [B] = sum(x, axis = 1)
# expect error 1:22: loss `l` must return a scalar, not [B]
