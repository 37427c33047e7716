# Size variables unify per call; int arguments become dims; dim arithmetic.
const D = 8
const Z = 2 * D

fn pair(x: [B, D], y: [B, D]) -> [B, Z] = concat(x, y, axis = 1)
fn halves(x: [B, Z]) -> ([B, D], [B, D]) = (x[:, 0:D], x[:, D:Z])
fn widen(x: [N, K], n: int) -> [N, K + n] = concat(x, reshape(x[:, 0], [N, 1]) * ones(n), axis = 1)
fn ones(n: int) -> [n] = float(arange(n)) * 0 + 1
fn split(x: [B, D], cut: int) -> ([B, cut], [B, D - cut]) = (x[:, 0:cut], x[:, cut:D])

fn use_all(a: [4, D], b: [4, D]) -> [4, 3] {
    z = pair(a, b)                      # [4, 16]
    (u, v) = halves(z)                  # [4, 8] each
    w = widen(u + v, 2)                 # [4, 10]
    (l, r) = split(w[:, 0:D], 3)        # [4, 3], [4, 5]
    return l * mean(r, axis = 1)[0] + sum(w) / 10
}
