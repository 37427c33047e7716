# `keepdims = true` keeps a reduced axis with size 1, so the result broadcasts back against
# its input: normalising along the last axis works for any leading `...` axes.
fn center(x: [..., D]) -> [..., D] = x - mean(x, axis = -1, keepdims = true)
fn unit(x: [..., D]) -> [..., D] = x / sqrt(sum(x * x, axis = -1, keepdims = true) + 1e-12)
fn stable_softmax(x: [..., K]) -> [..., K] {
    e = exp(x - max(x, axis = -1, keepdims = true))
    return e / sum(e, axis = -1, keepdims = true)
}
fn log_probs(x: [..., K]) -> [..., K] = x - logsumexp(x, axis = -1, keepdims = true)
fn best(x: [..., K]) -> i32[..., 1] = argmax(x, axis = -1, keepdims = true)
fn spread(x: [N, T, D]) -> [N, 1, D] = max(x, axis = 1, keepdims = true) - min(x, axis = -2, keepdims = true)
fn peak(x: [N, D]) -> [1, 1] = max(x, keepdims = true)
fn first_peak(x: [N, D]) -> i32[1, 1] = argmax(x, keepdims = true)
fn dropped(x: [N, D]) -> [N] = sum(x, axis = 1, keepdims = false)
fn counts(x: i32[N, D]) -> i32[1, D] = sum(x, axis = 0, keepdims = true)

encoder enc(x: [B, T, 6]) -> [B, T, 6] = stable_softmax(center(x)) + log_probs(unit(x))
decoder dec(x: [B, 6]) -> [B, 6] = stable_softmax(x) * float(best(x)) + spread(reshape(x, [B, 2, 3]))[:, 0, 0:1] * peak(x)
fn scalar_result(x: [6]) -> f32 = sum(stable_softmax(x)) + dropped(reshape(x, [2, 3]))[0] + float(first_peak(reshape(x, [2, 3]))[0, 0] + counts(argmax(reshape(x, [2, 3, 1]), axis = -1))[0, 0])
