# batch_norm: a rank other than [B, C, H, W] or [B, D], a momentum outside [0, 1], and a layer
# that an fn may not call (it has parameters)
encoder a(x: [B, 3, 8]) -> [B, 3, 8] = batch_norm(x)
encoder b(x: [B, 5]) -> [B, 5] = batch_norm(x, momentum = 1.5)
fn c(x: [B, 5]) -> [B, 5] = batch_norm(x)
# expect error 3:51: `batch_norm` needs f32 [B, C, H, W] or [B, D], not [B, 3, 8]
# expect error 4:59: `momentum` of `batch_norm` must lie in [0, 1], not 1.5
# expect error 5:29: fn `c` may not have parameters, but `batch_norm` has them
