# An index into the batch axis is out of range for a small last batch; and a slice past a
# size variable's value, which check cannot see.
dataset d { x: [6] = idx("x.idx") }
fn head(x: [N, K], n: int) -> [N, n] = x[:, 0:n]
eval s {
    data: d
    report a = mean(x.T[:, 3])
    report b = mean(head(x, 7))
}
# expect lower error 7:28: `3` is out of range for axis 1 of [6, B] (B, the batch size, can be as small as 1)
# expect lower error 4:45: `0:n` is out of range for axis 1 of [B, 6]
