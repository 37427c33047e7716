# `sample` (continuations of a prompt) and its settings.
use std.nn
use std.loss

dataset words = sequences(text("brown/", lowercase = true, min_count = 10), length = 9, stride = 8)

encoder lm(ids: i32[B, T]) -> [B, T, words.vocab] {
    param e: [words.vocab, 8] = normal(0, 0.02)
    return dense(e[ids], words.vocab)
}

train settings {
    data: words
    sample: lm(ids)
    prompt: ""
    sample_tokens: 0
    sample_count: -1
    temperature: -0.5
    top_k: 1.5
    minimize cross_entropy(lm(ids[:, 0:8]), ids[:, 1:9])
}

train alone {
    data: words
    sample: logits
    logits = lm(ids[:, 0:8])
    minimize cross_entropy(logits, ids[:, 1:9])
}

eval stray {
    data: words
    temperature: 0.8
    top_k: 5
    report m = mean(lm(ids))
}
# expect error 14:13: `sample` names the binding that holds the next-token logits [B, T, vocab]
# expect error 15:13: `prompt` is the text the samples continue, in quotes, not ""
# expect error 16:20: `sample_tokens` must be a positive integer, not 0
# expect error 17:19: `sample_count` must be a positive integer, not -1
# expect error 18:18: `temperature` must be a number >= 0 (0: the most likely token), not -0.5
# expect error 19:12: `top_k` must be a non-negative integer (0: every token), not 1.5
# expect error 25:5: `sample` needs a `prompt`: the text the samples continue
# expect error 32:5: `temperature` goes with `sample`
# expect error 33:5: `top_k` goes with `sample`
