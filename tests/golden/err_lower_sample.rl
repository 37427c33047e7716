# `sample` names next-token logits [B, T, vocab] over a sequences window.
use std.nn
use std.loss

dataset words = sequences(text("brown/", lowercase = true, min_count = 10), length = 9, stride = 8)
dataset table = csv("points.csv", columns = 3)

encoder lm(ids: i32[B, T]) -> [B, T, words.vocab] {
    param e: [words.vocab, 8] = normal(0, 0.02)
    return dense(e[ids], words.vocab)
}

eval not_logits {
    data: words
    sample: h
    prompt: "the jury"
    h = sum(lm(ids), axis = -1)
    report m = mean(h)
}

eval too_long {
    data: words
    sample: logits
    prompt: "the jury"
    logits = lm(concat(ids, ids, axis = 1))
    report m = mean(logits)
}

eval no_window {
    data: words
    sample: logits
    prompt: "the jury"
    logits = normal(0, 1, [B, 9, 5])
    report m = mean(logits)
}

eval not_text {
    data: table
    sample: logits
    prompt: "the jury"
    logits = reshape(x, [B, 1, 3])
    report m = mean(logits)
}
# expect lower error 15:13: `sample` names the next-token logits, an f32 tensor [B, T, vocab] bound in stage `not_logits`; `h` is not one
# expect lower error 23:13: `logits` has 18 positions but the window of `words` holds 9 tokens
# expect lower error 31:13: `logits` is not computed from the token window `ids` of `words`, so it cannot continue a prompt
# expect lower error 39:13: `sample` continues a prompt in the token window of a `sequences(text(...))` dataset; `table` is not one
