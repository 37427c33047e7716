dataset other { y: [3] = csv("q.csv", columns = 3) }
dataset d { x: [3] = csv("p.csv", columns = 3) / other }
# expect error 2:50: a source can only be combined with numbers, applied at load
