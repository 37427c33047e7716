# Idea 4: word embeddings. Skip-gram with negative sampling (word2vec) on the Brown corpus: each
# word's vector must score high (dot product) against the words that appear near it (a window of
# up to 5 on each side) and low against 5 words drawn at random from the unigram distribution to
# the power 0.75. Words seen fewer than 5 times are dropped; frequent words are subsampled (1e-3).
# Settings follow word2vec's defaults for skip-gram: 100 dimensions, 5 epochs, plain SGD with a
# per-pair step of 0.025 decaying linearly to 0 (negative_sampling sums over the batch, as word2vec
# sums over pairs, so lr is that per-pair step).
#
# The corpus is looked up as "brown/": on RL_DATA_PATH, else in the repository's data/ folder, where
# scripts/setup.sh puts it (docs/language.md gives the whole order). The vocabulary is saved beside
# the parameters; the word vectors are the parameter `word.e` in word2vec.rlw.
use std.nn
use std.loss

const E = 100

dataset brown = skipgram(text("brown/", lowercase = true, min_count = 5),
                         window = 5, negatives = 5, subsample = 1e-3)

# The word vectors: word2vec starts them uniform in [-0.5/E, 0.5/E].
encoder word(w: i32[...]) -> [..., E] {
    param e: [brown.vocab, E] = uniform(-0.005, 0.005)
    return e[w]
}

# The context vectors: word2vec starts them at zero.
decoder ctx(c: i32[...]) -> [..., E] {
    param e: [brown.vocab, E] = zeros
    return e[c]
}

train sgns {
    data:      brown
    batch:     128
    epochs:    5
    optimizer: sgd(lr = 0.025)
    schedule:  linear(to = 0)
    save:      "word2vec.rlw"

    # One lookup of the context table for the true and the sampled words: its gradient is
    # then one sparse set of rows, so only the rows this batch touched are updated.
    o = ctx(concat(reshape(context, [B, 1]), negatives, axis = 1))     # [B, 6, E]
    minimize negative_sampling(word(center), o[:, 0], o[:, 1:6])
}

# How well the vectors tell true context words from sampled ones, on a sample of pairs:
# the mean probability the model gives a true pair and a negative pair.
# It also writes the word vectors in word2vec's text format (gensim's
# KeyedVectors.load_word2vec_format reads word2vec.txt) and prints the 8 nearest words by cosine
# similarity of a few words (runs/pairs/neighbours.txt). Run alone (`--stage pairs`) it loads
# word2vec.rlw.
eval pairs {
    data:       brown
    batch:      1000
    limit:      100000
    load:       "word2vec.rlw"
    embedding:  word
    vectors:    "word2vec.txt"
    neighbours: ["monday", "king", "water", "money", "president", "good", "city", "three"]

    c = word(center)
    report p_true = mean(sigmoid(sum(c * ctx(context), axis = 1)))
    report p_negative = mean(sigmoid(sum(ctx(negatives) * reshape(c, [B, 1, E]), axis = 2)))
}
