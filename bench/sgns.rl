# Benchmark workload 4: skip-gram with negative sampling on the Brown corpus, one epoch: dim 100,
# window 5, 5 negatives, min count 5, subsampling 1e-3, SGD with word2vec's per-pair step 0.025
# decaying linearly to 0. The peers are gensim_w2v.py (gensim's Word2Vec, the same settings) and
# torch_sgns.py. The corpus is "brown/" on RL_DATA_PATH (run.sh points it at data/).
use std.nn
use std.loss

const E = 100

dataset brown = skipgram(text("brown/", lowercase = true, min_count = 5),
                         window = 5, negatives = 5, subsample = 1e-3)

encoder word(w: i32[...]) -> [..., E] {
    param e: [brown.vocab, E] = uniform(-0.005, 0.005)
    return e[w]
}

decoder ctx(c: i32[...]) -> [..., E] {
    param e: [brown.vocab, E] = zeros
    return e[c]
}

train sgns {
    data:      brown
    batch:     256
    epochs:    1
    optimizer: sgd(lr = 0.025)
    schedule:  linear(to = 0)
    save:      "sgns.rlw"

    minimize negative_sampling(word(center), ctx(context), ctx(negatives))
}
