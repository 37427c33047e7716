fn f(x: [N], i: i32[N]) -> [N] = x + i
# expect error 1:34: `+` mixes [N] and i32[N]: i32 and f32 do not mix, convert with float(...)
