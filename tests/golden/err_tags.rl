dataset a { w: i32 = text("c.txt", tags = true) }
dataset b = sequences(text("c.txt", tags = 1), length = 4)
dataset c = sequences(text("c.txt", unit = "char", tags = true), length = 4)
dataset d = skipgram(text("c.txt", tags = true))
dataset e = text("c.txt", tags = true)
dataset f = sequences(text("c.txt"), length = 4)
const T = f.tags
# expect error 1:36: `tags` goes with `sequences(text(..., tags = true), ...)`: only a sequences dataset has the field `tags`
# expect error 2:44: `tags` is true or false
# expect error 3:52: `tags = true` reads the TAG of word/TAG tokens; it does not go with unit = "char"
# expect error 4:36: `tags` goes with `sequences(text(..., tags = true), ...)`: only a sequences dataset has the field `tags`
# expect error 5:27: `tags` goes with `sequences(text(..., tags = true), ...)`: only a sequences dataset has the field `tags`
# expect error 7:11: dataset `f` has no property `tags`
