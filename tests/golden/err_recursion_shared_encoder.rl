# A recursive layer inside an encoder that is called twice: the check that both calls give its
# parameters the same shapes walks the layer's calls, and must stop (the fuzzer's stack overflow).
layer block(x: [B, I], n: int) -> [B, n] = block(relu(x), n)

encoder enc(x: [B, 4]) -> [B, 3] = block(x, 3)

fn both(x: [B, 4]) -> [B, 3] = enc(x) + enc(x * 2)

# expect error 3:7: `block` calls itself: recursion is not allowed
