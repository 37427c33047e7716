# batch_norm in a train stage with one example per batch: no batch variance (PyTorch refuses it
# too). An eval stage with batch 1 is fine: it uses the running statistics.
dataset d { x: [4] = csv("x.csv", columns = 4) }
encoder enc(x: [B, 4]) -> [B, 4] = batch_norm(x)
train t {
    data: d
    batch: 1
    minimize mean(enc(x) ^ 2)
}
eval e {
    data: d
    batch: 1
    report m = mean(enc(x))
}
# expect lower error 4:36: `batch_norm` in train stage `t` needs at least 2 examples per batch for the batch's variance, but the stage has `batch: 1`
