dataset d {
    x: [4] = npy("a.npy")
    x: [4] = npy("b.npy")
}
# expect error 3:5: field `x` is declared twice
