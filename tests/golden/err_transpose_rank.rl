fn f(x: [B]) -> [B] = x.T
# expect error 1:23: `.T` needs at least 2 axes, not [B]
