# std.loss — objectives (each returns a scalar) and the accuracy metric.
use std.nn

# Mean squared error over every element: mean((a - b)^2) (per pixel for images).
loss mse(a: [...], b: [...]) -> f32 = mean((a - b) ^ 2)

# Binary cross-entropy of logits z against targets y in [0, 1], averaged over elements:
# -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)) = max(z, 0) - z y + log(1 + exp(-|z|)).
loss bce(z: [...], y: [...]) -> f32 = mean(max(z, 0) - z * y + log(1 + exp(-abs(z))))

# Softmax cross-entropy of logits [..., K] against integer labels y in [0, K), averaged over
# every position (rows, or rows and time steps): -mean_i log softmax(logits_i)[y_i].
# With mask = m (f32 0/1, y's shape: masked LM, padding) the mean is over the positions where m
# is 1: sum_i m_i nll_i / sum_i m_i, written as a ratio of means; an all-zero mask gives 0, not
# NaN (the denominator is at least 1e-12). Without a mask, m = 1 and simplify folds it away.
loss cross_entropy(logits: [..., K], y: i32[...], mask: [...] = 1) -> f32 =
    -mean(sum(one_hot(y, K) * log_softmax(logits), axis = -1) * mask) / max(mean(mask), 1e-12)

# Fraction of positions whose largest logit is the label (no gradient: argmax).
fn accuracy(logits: [..., K], y: i32[...]) -> f32 = mean(argmax(logits, axis = -1) == y)

# Mean squared error over the hidden patches only (the masked auto-encoder's loss).
# Images are g x g patches of p x p pixels; m: [N, g*g] is 1 for a patch that was seen, 0 hidden.
# mean(d^2 h) / mean(h) over the broadcast [N, g, p, g, p] = sum over hidden pixels / their count.
loss hidden_mse(xhat: [N, D], x: [N, D], m: [N, M], g: int, p: int) -> f32 {
    d = reshape(xhat - x, [N, g, p, g, p])
    h = reshape(1 - m, [N, g, 1, g, 1])
    return mean(d * d * h) / max(mean(h), 1e-6)
}

# word2vec's skip-gram negative-sampling objective, summed over the batch as word2vec sums over
# pairs (so sgd's lr is the per-pair step, 0.025 in word2vec):
# -sum_i [ log sigmoid(c_i . o_i) + sum_k log sigmoid(-c_i . n_ik) ]
# c: center vectors, o: their context vectors, n: K negative context vectors per center.
loss negative_sampling(c: [N, E], o: [N, E], n: [N, K, E]) -> f32 {
    pos = sum(c * o, axis = 1)                              # [N]
    neg = sum(n * reshape(c, [N, 1, E]), axis = 2)          # [N, K]
    return -sum(log_sigmoid(pos)) - sum(log_sigmoid(-neg))
}

# InfoNCE from a to b: row i of a must pick row i of b among all N rows of b, by cosine
# similarity / tau: cross_entropy(l2n(a) @ l2n(b)^T / tau, arange(N)).
loss info_nce(a: [N, E], b: [N, E], tau = 0.1) -> f32 =
    cross_entropy(l2_normalize(a) @ l2_normalize(b).T / tau, arange(N))

# SimCLR's NT-Xent over the 2N views z = [z1; z2]: each view must find its partner (i <-> i + N)
# among the other 2N - 1 views by cosine similarity / tau; a view's similarity to itself is
# pushed to -1e9 so it never counts.
loss nt_xent(z1: [N, E], z2: [N, E], tau = 0.5) -> f32 {
    z = l2_normalize(concat(z1, z2, axis = 0))                    # [2N, E]
    sim = z @ z.T / tau - 1e9 * one_hot(arange(2 * N), 2 * N)     # [2N, 2N], diagonal masked
    partner = concat(arange(N) + N, arange(N), axis = 0)          # i32 [2N]
    return cross_entropy(sim, partner)
}

# CLIP's symmetric loss: logits = l2n(img) @ l2n(txt)^T * exp(t), the learned temperature
# exp(t) capped at 100 as in CLIP; the mean of the image->text and text->image cross-entropies
# with the matching pair (the diagonal) as the label.
loss clip_loss(img: [N, E], txt: [N, E], t: f32) -> f32 {
    logits = l2_normalize(img) @ l2_normalize(txt).T * exp(min(t, 4.6052))
    return (cross_entropy(logits, arange(N)) + cross_entropy(logits.T, arange(N))) / 2
}
