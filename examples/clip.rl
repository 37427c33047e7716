# Idea 7: multi-modality, CLIP-style. Two encoders, one for images and one for short texts, are
# trained so that an image and its caption land close together (cosine similarity) and apart from
# the other captions of the batch: CLIP's symmetric cross-entropy, with a learned temperature
# exp(t) (t starts at 2.66, so exp(t) = 1/0.07, as in CLIP). Then zero-shot classification: each
# test image gets the class whose caption "a photo of CLASS" is most similar to it; the classifier
# is never trained on the labels as labels.
#
# The captions. Fashion-MNIST has no text, so each training image is paired with a caption made
# from its class name in one of 9 phrasings, "{a|one|this} {photo|picture|image} of CLASS", drawn
# at random every step. The captions are built inside the language, in a pretext, from the label:
# a tokens file would need one line per training image and could not give the eval stage the ten
# class captions it compares each test image with, while here the same `caption` function makes
# both. Word ids (a fixed vocabulary of 18 words):
#   1 a      2 one      3 this      4 photo    5 picture    6 image    7 of
#   8 t-shirt/top  9 trouser  10 pullover  11 dress  12 coat  13 sandal  14 shirt  15 sneaker
#   16 bag  17 ankle-boot          (0 is unused: every caption has 4 words)
# A batch holds several images of the same class with the same caption; the loss counts those as
# negatives, which raises its floor but does not stop the alignment of images with class names.
use std.nn
use std.loss

const D = 784
const E = 64             # the shared embedding space
const V = 18             # vocabulary
const L = 4              # words per caption
const K = 10             # classes

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/train-labels-idx1-ubyte.gz")
}

dataset fashion_test {
    x: [784] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/t10k-labels-idx1-ubyte.gz")
}

# One word per row as a column [N, 1].
fn column(w: i32[N]) -> i32[N, 1] = reshape(w, [N, 1])

# The caption of class y in phrasing (a, b), a and b in 0..2: [a|one|this, photo|picture|image,
# of, CLASS] as word ids.
fn caption(y: i32[N], a: i32[N], b: i32[N]) -> i32[N, L] {
    first = concat(column(1 + a), column(4 + b), axis = 1)
    last = concat(column(0 * y + 7), column(8 + y), axis = 1)
    return concat(first, last, axis = 1)
}

# The caption used for zero-shot classification: "a photo of CLASS" (a = b = 0).
fn photo_of(y: i32[N]) -> i32[N, L] = caption(y, 0 * y, 0 * y)

# A random phrasing of each label's caption, fresh every step.
pretext describe(y: i32[B]) -> i32[B, L] = caption(y, randint(0, 3, [B]), randint(0, 3, [B]))

encoder img(x: [B, D]) -> [B, E] {
    h = relu(dense(x, 256))
    return dense(h, E)
}

# Text encoder: a transformer over the caption, as CLIP's is. Word vectors plus learned position
# vectors (word order matters: "a photo of X"), one pre-norm transformer block in which every word
# attends to every other (4 heads of 8), then the mean of the 4 positions projected to the shared
# space. (A caption is short and has no padding, so no mask is needed; CLIP reads the last token's
# state under a causal mask instead, which a mean over an unmasked block replaces here.)
encoder txt(c: i32[N, L]) -> [N, E] {
    param pos: [L, 32] = normal(0, 0.02)
    h = transformer_block(embedding(c, V, 32) + pos, 4, 128)
    return dense(mean(layer_norm(h), axis = 1), E)
}

train align {
    data:      fashion
    batch:     256
    epochs:    10
    optimizer: adam(lr = 1e-3)
    save:      "clip.rlw"
    validate:  zero_shot

    param t: f32 = 2.66
    minimize clip_loss(img(x), txt(describe(y)), t)
    report temperature = exp(t)
}

eval zero_shot {
    data:  fashion_test
    batch: 1000
    load:  "clip.rlw"
    classes = txt(photo_of(arange(K)))                             # [K, E]
    report acc = accuracy(l2_normalize(img(x)) @ l2_normalize(classes).T, y)
}
