fn f(x: [N], i: i32[N]) -> [N] = x == i
# expect error 1:34: cannot compare [N] with i32[N]: convert with float(...)
