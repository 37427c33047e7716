# Idea 8: a language model cooks its labels out of raw text. A small GPT reads 32 words of the Brown
# corpus and predicts, at every position, the word that follows (next-word prediction: the targets
# are the inputs shifted by one). Two pre-norm transformer blocks with causal multi-head
# self-attention (a position sees itself and the words before it, never after), learned position
# embeddings, and a linear read-out over the vocabulary. Words seen fewer than 10 times in the
# corpus are the unknown word <unk> (id 0); the vocabulary is counted over the whole corpus.
#
# The windows of the first 90% of the corpus train; those of the last 10% (other documents of the
# Brown corpus) validate. The validation cross-entropy is the figure: its exp is the perplexity,
# compared in docs/examples.md with the unigram and bigram models of the same split
# (examples/torch_gpt.py computes both, and trains this recipe in PyTorch beside it). At the end
# the model continues a prompt (`sample`): a language model is read by what it writes.
use std.nn
use std.loss

const D = 64             # width
const H = 4              # heads of 16 features
const T = 32             # context: 32 words predict the next 32

dataset brown = sequences(text("brown/", lowercase = true, min_count = 10), length = 33, stride = 32,
                          end = 0.9)
dataset held_out = sequences(text("brown/", lowercase = true, min_count = 10), length = 33, stride = 32,
                             start = 0.9)

encoder gpt(x: i32[B, T]) -> [B, T, brown.vocab] {
    param wte: [brown.vocab, D] = normal(0, 0.02)
    param wpe: [T, D] = normal(0, 0.02)
    h = transformer_block(wte[x] + wpe, H, 4 * D, causal = true)
    h = transformer_block(h, H, 4 * D, causal = true)
    return dense(layer_norm(h), brown.vocab)
}

train pretrain {
    data:           brown
    batch:          32
    steps:          600
    optimizer:      adamw(lr = 3e-3, weight_decay = 0.01)
    schedule:       cosine(warmup = 60, to = 0.1)
    clip_grad_norm: 1
    seed:           1
    save:           "gpt.rlw"
    sample:         logits
    prompt:         "the jury said that"
    sample_tokens:  16
    sample_count:   3
    temperature:    0.8
    top_k:          40

    logits = gpt(ids[:, 0:T])
    minimize cross_entropy(logits, ids[:, 1:T + 1])
}

eval validation {
    data:  held_out
    batch: 64
    report xent = cross_entropy(gpt(ids[:, 0:T]), ids[:, 1:T + 1])
}
