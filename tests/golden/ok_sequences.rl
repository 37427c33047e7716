# sequences over a text corpus (words or bytes), and text() as a field or a whole dataset.
use std.nn
use std.loss

dataset words = sequences(text("brown/", lowercase = true, min_count = 10), length = 33, stride = 32)
dataset chars = sequences(text("brown/", unit = "char"), length = 17)
dataset tagged { w: i32 = text("brown/", unit = "word") }
dataset plain = text("brown/", min_count = 2)

encoder lm(ids: i32[B, T]) -> [B, T, words.vocab] {
    param e: [words.vocab, 16] = normal(0, 0.02)
    return dense(e[ids], words.vocab)
}

train next {
    data: words
    x = ids[:, 0:32]
    y = ids[:, 1:33]
    minimize cross_entropy(lm(x), y)
}

train bytes {
    data: chars
    param e: [chars.vocab, 4] = zeros
    minimize mean(e[ids])
}

train one {
    data: tagged
    param e: [tagged.vocab, 4] = zeros
    minimize mean(e[w])
}

train whole {
    data: plain
    param e: [plain.vocab, 4] = zeros
    minimize mean(e[x])
}

# the Brown tags of word/TAG tokens: a field beside the ids, and their count
dataset pos = sequences(text("brown/", lowercase = true, min_count = 10, tags = true), length = 8)

train tagger {
    data: pos
    param e: [pos.vocab, 4] = zeros
    logits = dense(e[ids], pos.tags)
    minimize cross_entropy(logits, tags)
}
