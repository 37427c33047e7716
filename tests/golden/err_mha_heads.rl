# A head count that does not divide the width: an error at the user's call (std.nn's `mha` splits
# D into heads of D / heads), directly and through `transformer_block`.
use std.nn
encoder enc(x: [B, T, 8]) -> [B, T, 8] = mha(x, 3)
encoder enc2(x: [B, T, 10]) -> [B, T, 10] = transformer_block(x, 4, 16, causal = true)
encoder fine(x: [B, T, 8]) -> [B, T, 8] = transformer_block(x, 4, 16, causal = true)
# expect error 4:42: this call of `mha` divides D = 8 by heads = 3, which leaves a remainder of 2: `/` of dims must be exact (`//` rounds down)
# expect error 5:45: this call of `transformer_block` divides D = 10 by heads = 4, which leaves a remainder of 2: `/` of dims must be exact (`//` rounds down)
