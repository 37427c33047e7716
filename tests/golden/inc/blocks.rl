# A small module used by the golden tests through `use "inc/blocks.rl"`.
fn double(x: [...]) -> [...] = 2 * x

layer affine(x: [N, I], n: int) -> [N, n] {
    param w: [I, n] = glorot
    param b: [n] = zeros
    return x @ w + b
}
