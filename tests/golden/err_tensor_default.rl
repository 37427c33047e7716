dataset d { x: [4] = csv("p.csv", columns = 4) }
fn scaled(x: [B, D], w: [D] = "one") -> [B, D] = x * w
fn weighted(x: [B, D], w: [D] = 2) -> [B, D] = x * w
train t {
    data: d
    param p: [4] = zeros
    minimize mean(weighted(x, w = p)) + mean(weighted(x)) + mean(scaled(x))
}
# expect error 2:31: the default of tensor argument `w` must be a compile-time number
