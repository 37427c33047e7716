dataset d = npy("a.npy")
# expect error 1:13: `npy` needs field types: write `dataset d { x: [N] = npy(...) }`
