# A reshape whose counts check cannot compare (size variables) is checked where it is inlined.
dataset d { x: [12] = idx("x.idx") }
fn tiles(x: [B, D], g: int, p: int) -> [B, D] = reshape(reshape(x, [B, g, p, g, p]), [B, D])
train s {
    data: d
    optimizer: sgd(lr = 0.1)
    minimize mean(tiles(x, 2, 2))
}
# expect lower error 3:57: cannot reshape [B, 12] to [B, 2, 2, 2, 2]: the element counts differ
