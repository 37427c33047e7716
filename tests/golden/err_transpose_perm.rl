fn a(x: [B, T, D]) -> [B, D, T] = transpose(x, [0, 2, 2])
fn b(x: [B, T, D]) -> [B, D, T] = transpose(x, [0, 3, 1])
fn c(x: [B, T, D]) -> [B, D, T] = transpose(x, [0, 1])
fn d(x: [B, T, D]) -> [B, D, T] = transpose(x, 2)
fn e(x: [..., T, D]) -> [..., D, T] = x.T
fn f(x: [..., T, D]) -> [..., D, T] = x.mT
fn g(x: [B, T, D]) -> [D, T, B] = x.T
fn h(x: [B, T, D]) -> [B, D, T] = transpose(x, [0, -1, 1])
# expect error 1:55: `transpose` of [B, T, D]: axis 2 appears twice
# expect error 2:52: `transpose` of [B, T, D]: axis 3 is not one of its 3 axes
# expect error 3:48: `transpose` of [B, T, D] needs a permutation of its 3 axes, not 2
# expect error 4:48: `transpose` needs a permutation of the axes such as [0, 2, 1]
# expect error 5:39: `.T` reverses every axis, but the `...` axes of [..., T, D] are unknown here: use `.mT` (the last two) or transpose(x, [...])
