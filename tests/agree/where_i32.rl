# where(c, a, b) with i32 branches (8.1: where(m, mask_id, ids)): an int argument, an int literal
# and an i32 tensor as branches, selecting the rows an embedding gathers, through the JIT against
# the interpreter.
dataset d = csv("points.csv", columns = 6)

fn hide(ids: i32[B], m: [B], mask_id: int) -> i32[B] = where(m, mask_id, ids)

train t {
    data: d
    optimizer: adam(lr = 0.01)
    param e: [8, 3] = uniform(-1, 1)
    ids = argmax(x, axis = 1)
    m = x[:, 0] > x[:, 1]
    j = hide(ids, m, 7)
    k = where(x[:, 2] > 0.5, 6, ids)
    minimize mean(e[j] * e[k]) + mean(e[where(m, k, j)])
}
