# Gathers from tables computed in the step, not parameters: rows that depend
# on B (h[idx] with h: [B, 4]) and row width that depends on B (h.T[idx]).
dataset d = csv("points.csv", columns = 3)

train t {
    data: d
    optimizer: sgd(lr = 0.1)
    param w: [3, 4] = glorot
    h = tanh(x @ w)
    rows = h[randint(0, 2, [B, 2])]         # [B, 2, 4]
    cols = h.T[randint(0, 4, [5])]          # [5, B]
    minimize mean(rows ^ 2) + mean(cols * cols) + sum(h[arange(B)] * h)
}
