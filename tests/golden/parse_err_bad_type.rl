fn f(x: [B, D], y: f64, n: int[3]) -> [B] = x

# expect error 1:20: unknown type 'f64' (expected f32, i32, int or [dims])
# expect error 1:28: 'int' takes no dims: it is a compile-time integer
