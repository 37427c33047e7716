fn f(x: [N]) -> [N] = f(x)
# expect error 1:4: `f` calls itself: recursion is not allowed
