# Idea 9: hide words and predict them (BERT's masked language model). 15% of the positions of each
# 32-word window of the Brown corpus are replaced by a [MASK] id drawn fresh every step (an extra
# row of the embedding table, id brown.vocab); a bidirectional transformer (no causal mask: every
# position sees the whole window) predicts the hidden words, the loss counted only where a word was
# hidden (cross_entropy's mask).
#
# Then the representations are probed: a linear read-out of each position's hidden state, trained
# with the encoder frozen, predicts the Brown part-of-speech tag of the word in its context (the
# corpus is word/TAG tokens: `tags = true` reads them). The same probe on the same architecture left
# untrained (random weights, so a word's vector is still its own random embedding row, mixed by
# random attention) is the baseline: the gap is what masked-word prediction taught about syntax.
# Held out: the last 10% of the corpus (start/end of sequences) for both the probe's test and the
# masked-word validation.
use std.nn
use std.loss

const D = 64
const H = 4
const T = 32

dataset brown = sequences(text("brown/", lowercase = true, min_count = 10), length = T, end = 0.9)
dataset brown_test = sequences(text("brown/", lowercase = true, min_count = 10), length = T, start = 0.9)
dataset pos = sequences(text("brown/", lowercase = true, min_count = 10, tags = true), length = T, end = 0.9)
dataset pos_test = sequences(text("brown/", lowercase = true, min_count = 10, tags = true), length = T,
                             start = 0.9)

# The encoder's body: word and position embeddings (one more row for [MASK]), two blocks.
layer body(x: i32[B, T]) -> [B, T, D] {
    param wte: [brown.vocab + 1, D] = normal(0, 0.02)
    param wpe: [T, D] = normal(0, 0.02)
    h = transformer_block(wte[x] + wpe, H, 4 * D)
    return layer_norm(transformer_block(h, H, 4 * D))
}

encoder bert(x: i32[B, T]) -> [B, T, D] = body(x)
encoder untrained(x: i32[B, T]) -> [B, T, D] = body(x)

decoder words(h: [B, T, D]) -> [B, T, brown.vocab] = dense(h, brown.vocab)
decoder tagger(h: [B, T, D]) -> [B, T, pos.tags] = dense(h, pos.tags)
decoder random_tagger(h: [B, T, D]) -> [B, T, pos.tags] = dense(h, pos.tags)

# 15% of the positions, fresh every step, and the window with them hidden.
pretext hide(ids: i32[B, T]) -> [B, T] = bernoulli(0.15, [B, T])

train mlm {
    data:           brown
    batch:          32
    steps:          600
    optimizer:      adamw(lr = 3e-3, weight_decay = 0.01)
    schedule:       cosine(warmup = 60, to = 0.1)
    clip_grad_norm: 1
    seed:           1

    m = hide(ids)
    logits = words(bert(where(m, brown.vocab, ids)))
    minimize cross_entropy(logits, ids, mask = m)
}

eval mlm_test {
    data:  brown_test
    batch: 64
    m = hide(ids)
    report masked_xent = cross_entropy(words(bert(where(m, brown.vocab, ids))), ids, mask = m)
}

train probe {
    data:      pos
    batch:     32
    steps:     300
    freeze:    bert
    optimizer: adam(lr = 3e-3)
    minimize cross_entropy(tagger(bert(ids)), tags)
}

eval probe_test {
    data:  pos_test
    batch: 64
    report acc = mean(argmax(tagger(bert(ids)), axis = -1) == tags)
}

train random_probe {
    data:      pos
    batch:     32
    steps:     300
    freeze:    untrained
    optimizer: adam(lr = 3e-3)
    minimize cross_entropy(random_tagger(untrained(ids)), tags)
}

eval random_probe_test {
    data:  pos_test
    batch: 64
    report acc = mean(argmax(random_tagger(untrained(ids)), axis = -1) == tags)
}
