# Every kind of item, and every way to write a type.
use std.nn
use std.loss as L
use "blocks.rl"
const TAU = 0.5
const K = 2 * 5 + 1
dataset fashion_test {
    x: [784] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/t10k-labels-idx1-ubyte.gz")
}
dataset table = csv("points.csv", columns = 3)
dataset codes { z: [32] = npy("codes.npy") }
dataset brown = skipgram(text("brown/", lowercase = true, min_count = 5),
                         window = 5, negatives = 5, subsample = 1e-3)
fn l2_normalize(x: [..., D]) -> [..., D] = x / sqrt(sum(x * x, axis = -1))
fn scalar(a: f32, b: []) -> f32 = a + b
decoder ctx(c: i32[...]) -> [..., E] = embed(c)
layer dense(x: [B, I], n: int) -> [B, n] {
    param w: [I, n] = glorot
    param b: [n] = zeros
    return x @ w + b
}
layer wide(x: [B, 2*Z], y: [B, (A+B)*C - 1]) -> i32[B, brown.vocab] = argmax(x, axis = 1)
loss nt(a: [N, E], b: [N, E], tau = 0.1,) -> f32 {
    s = a @ b.T / tau
    return mean(logsumexp(s, axis = 1) - s[arange(N), arange(N)])
}
