dataset d { x: [3] = csv("p.csv", colums = 3) }
# expect error 1:35: `csv` has no option `colums`
