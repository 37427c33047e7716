# negative_sampling with two tables; centers, contexts and negatives share rows.
use std.nn
use std.loss

dataset d {
    x:   [12]   = csv("x.csv", columns = 12)
    r3:  [3]    = csv("r3.csv", columns = 3)
    r4:  [4]    = csv("r4.csv", columns = 4)
    r12: [12]   = csv("r12.csv", columns = 12)
    y:   i32    = csv("y.csv", columns = 1)
    y3:  i32[3] = csv("y3.csv", columns = 3)
}

train t {
    data: d
    steps: 1
    optimizer: sgd(lr = 0.1)
    c = embedding(y, 5, 4)
    minimize negative_sampling(c, embedding(y3[:, 0], 5, 4), embedding(y3, 5, 4))
}
