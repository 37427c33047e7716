dataset d { x: [3] = load("p.csv") }
# expect error 1:22: unknown source `load`: a field reads idx, npy, csv, tokens or text
