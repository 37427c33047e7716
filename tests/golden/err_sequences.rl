dataset a = sequences(text("c.txt"), length = 0)
dataset b = sequences(text("c.txt"), length = 4, stride = -1)
dataset c = sequences(text("c.txt"))
dataset d = sequences(text("c.txt", unit = "byte"), length = 2)
dataset e = sequences("c.txt", length = 2)
dataset f { w: i32 = text("c.txt", window = 2) }
dataset g { w: i32[4] = sequences(text("c.txt"), length = 4) }
dataset h = sequences(text("c.txt"), length = 4, start = 1.5)
dataset i = sequences(text("c.txt"), length = 4, start = 0.9, end = 0.5)
# expect error 1:47: `length` of the sequences of dataset `a` must be a positive integer, not 0
# expect error 2:59: `stride` of the sequences of dataset `b` must be a positive integer, not -1
# expect error 3:13: `sequences` of dataset `c` needs `length = L`
# expect error 4:44: `unit` is "word" or "char"
# expect error 5:23: `sequences` needs a corpus: sequences(text("..."), ...)
# expect error 6:36: `text` has no option `window`
# expect error 7:25: `sequences` makes a whole dataset: write `dataset NAME = sequences(...)`
# expect error 8:58: `start` of the sequences of dataset `h` is a fraction of the corpus, from 0 to 1, not 1.5
# expect error 9:13: the sequences of dataset `i` start at 0.9 of the corpus, not before their end (0.5)
