# Idea 9: hide words and predict them (BERT's masked language model), then read the part of speech
# of each word off the learned representations.
#
# Pre-training, as BERT does it: in each 32-word window of the Brown corpus, K = 5 positions (15%,
# drawn fresh every step, without replacement) are chosen; of those, 80% are replaced by a [MASK]
# id (an extra row of the embedding table, id brown.vocab), 10% by a random word and 10% are left
# as they are; a bidirectional transformer (no causal mask: every position sees the whole window)
# predicts the original word at the chosen positions only (BERT gathers them before the output
# layer over the vocabulary, which is most of the work: the step then takes a third of the CPU
# time of one that computes every position's logits). The random and unchanged 20% matter for what comes next: the
# model cannot tell which words were touched, so it must keep every position's own word in its
# state, the unmasked ones the probe reads included (with every chosen word [MASK]ed, the probe
# on the pre-trained encoder is no better than on the untrained one: docs/examples.md).
#
# Then the representations are probed: a linear read-out of each position's state, trained with
# the encoder frozen, predicts the Brown part-of-speech tag of the word in its context (the corpus
# is word/TAG tokens: `tags = true` reads them). Against: the same probe on the same architecture
# left untrained (random weights), and on the pre-trained word + position embeddings alone (no
# context). Held out: the last 10% of the corpus (start/end of sequences) for both the probes'
# test and the masked-word validation. docs/examples.md, section 9, has the figures beside the same
# recipe in PyTorch (examples/torch_bert.py).
use std.nn
use std.loss

const D = 64             # width
const H = 4              # heads of 16 features
const T = 32             # words per window
const K = 5              # positions chosen per window (15% of 32)

dataset brown = sequences(text("brown/", lowercase = true, min_count = 10), length = T, end = 0.9)
dataset brown_test = sequences(text("brown/", lowercase = true, min_count = 10), length = T, start = 0.9)
dataset pos = sequences(text("brown/", lowercase = true, min_count = 10, tags = true), length = T, end = 0.9)
dataset pos_test = sequences(text("brown/", lowercase = true, min_count = 10, tags = true), length = T,
                             start = 0.9)

# Word and position embeddings; the word table has one more row than the vocabulary, for [MASK].
layer embed(x: i32[B, T]) -> [B, T, D] {
    param wte: [brown.vocab + 1, D] = normal(0, 0.02)
    param wpe: [T, D] = normal(0, 0.02)
    return wte[x] + wpe
}

# Two pre-norm transformer blocks without a causal mask, and the final layer_norm.
layer blocks(h: [B, T, D]) -> [B, T, D] = layer_norm(transformer_block(transformer_block(h, H, 4 * D), H, 4 * D))

encoder bert_embed(x: i32[B, T]) -> [B, T, D] = embed(x)
encoder bert(x: i32[B, T]) -> [B, T, D] = blocks(bert_embed(x))
encoder untrained(x: i32[B, T]) -> [B, T, D] = blocks(embed(x))

decoder words(h: [B, K, D]) -> [B, K, brown.vocab] = dense(h, brown.vocab)
decoder tagger(h: [B, T, D]) -> [B, T, pos.tags] = dense(h, pos.tags)
decoder random_tagger(h: [B, T, D]) -> [B, T, pos.tags] = dense(h, pos.tags)
decoder embed_tagger(h: [B, T, D]) -> [B, T, pos.tags] = dense(h, pos.tags)

# BERT's corruption of a batch of windows: K positions per window, chosen without replacement (the
# K smallest of T uniform draws: a position's rank is the number of draws below its own; a tie,
# about 3e-5 per window, only adds an unchanged position to the loss), 80% of them [MASK], 10% a
# random word, 10% unchanged. Returns the corrupted windows, the chosen positions as rows of the
# flattened [B T] batch, and the original words there.
pretext corrupt(ids: i32[B, T], mask_id: int, vocab: int) -> (i32[B, T], i32[B, K], i32[B, K]) {
    u = uniform(0, 1, [B, T])
    rank = sum(reshape(u, [B, 1, T]) < reshape(u, [B, T, 1]), axis = -1)
    chosen = rank < K
    at = argmax(reshape(rank, [B, 1, T]) == reshape(float(arange(K)), [1, K, 1]), axis = -1)
    r = uniform(0, 1, [B, T])
    x = where(chosen * (r < 0.8), mask_id, ids)
    x = where(chosen * (r >= 0.8) * (r < 0.9), randint(0, vocab, [B, T]), x)
    rows = at + T * reshape(arange(B), [B, 1])
    return (x, rows, reshape(ids, [B * T])[rows])
}

# The encoder's states at the chosen positions (rows of the flattened batch): what `words` reads.
fn predict(h: [B, T, D], rows: i32[B, K]) -> [B, K, D] = reshape(h, [B * T, D])[rows]

train mlm {
    data:           brown
    batch:          32
    steps:          20000
    optimizer:      adamw(lr = 3e-3, weight_decay = 0.01)
    schedule:       cosine(warmup = 100, to = 0.1)
    clip_grad_norm: 1
    seed:           1

    (x, rows, y) = corrupt(ids, brown.vocab, brown.vocab)
    minimize cross_entropy(words(predict(bert(x), rows)), y)
}

eval mlm_test {
    data:  brown_test
    batch: 64
    (x, rows, y) = corrupt(ids, brown.vocab, brown.vocab)
    report masked_xent = cross_entropy(words(predict(bert(x), rows)), y)
}

train probe {
    data:      pos
    batch:     64
    steps:     1000
    freeze:    [bert, bert_embed]
    optimizer: adam(lr = 1e-2)
    minimize cross_entropy(tagger(bert(ids)), tags)
}

eval probe_test {
    data:  pos_test
    batch: 64
    report acc = mean(argmax(tagger(bert(ids)), axis = -1) == tags)
}

train random_probe {
    data:      pos
    batch:     64
    steps:     1000
    freeze:    untrained
    optimizer: adam(lr = 1e-2)
    minimize cross_entropy(random_tagger(untrained(ids)), tags)
}

eval random_probe_test {
    data:  pos_test
    batch: 64
    report acc = mean(argmax(random_tagger(untrained(ids)), axis = -1) == tags)
}

train embed_probe {
    data:      pos
    batch:     64
    steps:     1000
    freeze:    bert_embed
    optimizer: adam(lr = 1e-2)
    minimize cross_entropy(embed_tagger(bert_embed(ids)), tags)
}

eval embed_probe_test {
    data:  pos_test
    batch: 64
    report acc = mean(argmax(embed_tagger(bert_embed(ids)), axis = -1) == tags)
}
