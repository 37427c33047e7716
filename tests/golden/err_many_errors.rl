fn a(x: [B, 4]) -> [B, 4] = x + y
fn b(x: [B, 4], i: i32[B]) -> [B, 4] = x * i
fn c(x: [B, 4]) -> [B, 8] = x
fn d(x: [B, 4]) -> [B, 4] = relu(x) + zeros_like(x)
# expect error 1:33: unknown name `y`
# expect error 4:39: unknown name `zeros_like`
# expect error 2:40: `*` mixes [B, 4] and i32[B]: i32 and f32 do not mix, convert with float(...)
# expect error 3:29: `c` returns [B, 4] here, but its result is declared [B, 8]
