# Benchmark workload 9: the GPT step of issue #12 item 6 on the Brown corpus: next-word
# prediction over windows of 33 word ids (inputs the first 32, targets the last 32), vocabulary at
# min count 10 (~8.5k ids), D = 128, 4 heads of 32, 2 pre-norm blocks (causal multi-head attention,
# GELU MLP of 4D), a final layer norm and an untied output projection with bias; learned position
# embeddings; Adam(3e-4), batch 32. The peer is torch_gpt.py (the same model, module for module).
# The blocks are std.nn's transformer_block (pre-norm, mha with separate q/k/v/out projections).
use std.nn
use std.loss

const T = 32
const D = 128
const H = 4

dataset brown = sequences(text("brown/", lowercase = true, min_count = 10), length = 33, stride = 32)

encoder gpt(ids: i32[B, T]) -> [B, T, brown.vocab] {
    param pos: [T, D] = normal(0, 0.02)
    x = embedding(ids, brown.vocab, D) + pos
    h = transformer_block(transformer_block(x, H, 4 * D, causal = true), H, 4 * D, causal = true)
    return dense(layer_norm(h), brown.vocab)
}

train gpt_b32 {
    data:      brown
    batch:     32
    steps:     50
    optimizer: adam(lr = 3e-4)

    minimize cross_entropy(gpt(ids[:, 0:32]), ids[:, 1:33])
}
