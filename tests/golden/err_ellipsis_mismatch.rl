fn f(a: [..., 4], b: [..., 4]) -> [..., 4] = a + b
fn g(x: [B, 4], y: [B, C, 4]) -> [B, 4] = f(x, y)
# expect error 2:48: argument `b` of `f` must be [..., 4] (here [B, 4]), not [B, C, 4]: its leading `...` axes differ from an earlier argument's
