fn f(x: [N]) -> [N] = relux(x)
# expect error 1:23: unknown name `relux`; did you mean `relu`?
