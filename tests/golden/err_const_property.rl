dataset toks = tokens("ids.txt", length = 4)
const V = toks.vocab / 2
const U = toks.size
const R = toks.vocab
train t {
    data: toks
    optimizer: sgd(lr = 1 / R)
    minimize mean(float(x)) * U
}
# expect error 2:11: a const made from a dataset property is a dim: it combines with + - * only
# expect error 3:11: dataset `toks` has no property `size`
# expect error 7:25: `lr` must be a compile-time number
