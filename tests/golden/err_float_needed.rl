fn f(i: i32[B]) -> [B] = exp(i)
# expect error 1:30: `exp` needs f32, but this is i32[B]: convert with float(...)
