# `/` of dims must be exact: an error at the `/` where its numbers are written, at the call (a note
# at the `/`) where a call chooses them; `//` is for integers known at compile time
const D = 10
fn f(x: [B, D / 4]) -> [B, D / 4] = x

layer halves(x: [B, N], k: int) -> [B, N / k] = reshape(x, [B, N / k])
encoder enc(x: [B, 9]) -> [B, 4] = halves(x, 2)

fn g(x: [B, 4]) -> [B, 4] = x // 2
# expect error 4:13: 10 / 4 leaves a remainder of 2: `/` of dims must be exact (`//` rounds down)
# expect error 4:28: 10 / 4 leaves a remainder of 2: `/` of dims must be exact (`//` rounds down)
# expect error 7:36: this call of `halves` divides N = 9 by k = 2, which leaves a remainder of 1: `/` of dims must be exact (`//` rounds down)
# expect error 9:29: `//` divides integers known at compile time (dims), not [B, 4] and i32[]
