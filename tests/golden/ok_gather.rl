# Gathers, one_hot, argmax, and dataset properties as dims.
dataset brown = skipgram(text("brown/", lowercase = true), window = 2, negatives = 4)

encoder word(w: i32[...]) -> [..., 8] {
    param e: [brown.vocab, 8] = uniform(-0.5, 0.5)
    return e[w]
}

eval look {
    data: brown
    batch: 32
    c = word(center)                            # [B, 8]
    n = word(negatives)                         # [B, 4, 8]
    s = sum(n * reshape(c, [B, 1, 8]), axis = 2)
    hit = argmax(s, axis = 1) == randint(0, 4, [B])
    report acc = mean(hit)
    report first = mean(one_hot(argmax(s, axis = -1), 4)[:, 0])
}
