fn f(x: [N]) -> [N] = x * zebra
# expect error 1:27: unknown name `zebra`
