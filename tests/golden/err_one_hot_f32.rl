fn f(y: [N]) -> [N, 10] = one_hot(y, 10)
# expect error 1:35: `one_hot` needs i32 labels, not [N]
