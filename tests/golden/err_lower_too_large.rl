# Tensors too large to allocate are errors before anything runs: a parameter, a dataset
# field, and a batch size that makes a field's batch too large.
dataset d { x: [6] = idx("x.idx") }
dataset wide { x: [1000000000] = idx("x.idx") }
train big_param {
    data: d
    optimizer: sgd(lr = 0.1)
    param w: [1000000000, 1000000000] = glorot
    minimize sum(w) + mean(x)
}
eval big_field {
    data: wide
    report m = mean(x)
}
eval big_batch {
    data: d
    batch: 1000000000
    report m = mean(x)
}
# expect lower error 8:5: a tensor of shape [1000000000, 1000000000] is too large: one tensor holds at most 2147483647 elements
# expect lower error 4:16: a tensor of shape [B, 1000000000] is too large: one tensor holds at most 2147483647 elements
# expect lower error 3:13: a tensor of shape [B, 6] is too large: one tensor holds at most 2147483647 elements (at this stage's batch size)
