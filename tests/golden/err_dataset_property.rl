dataset brown = skipgram(text("brown/"), window = 5, negatives = 5)
encoder word(w: i32[...]) -> [..., 8] {
    param e: [brown.vocabulary, 8] = zeros
    return e[w]
}
# expect error 3:15: dataset `brown` has no property `vocabulary`
