# Benchmark workload 9: the GPT step of issue #12 item 6 on the Brown corpus: next-word
# prediction over windows of 33 word ids (inputs the first 32, targets the last 32), vocabulary at
# min count 10 (~8.5k ids), D = 128, 4 heads of 32, 2 pre-norm blocks (causal multi-head attention,
# GELU MLP of 4D), a final layer norm and an untied output projection with bias; learned position
# embeddings; Adam(3e-4), batch 32. The peer is torch_gpt.py (the same model, module for module).
# Attention is written inline with today's ops (the std.nn functions of 8.3 are not in yet).
use std.nn
use std.loss

const T = 32
const D = 128
const H = 4
const DH = 32

dataset brown = sequences(text("brown/", lowercase = true, min_count = 10), length = 33, stride = 32)

# One pre-norm block: x + attn(ln(x)), then + mlp(ln(.)).
layer block(x: [B, T, D]) -> [B, T, D] {
    h = layer_norm(x)
    q = transpose(reshape(dense(h, D), [B, T, H, DH]), [0, 2, 1, 3])      # [B, H, T, DH]
    k = transpose(reshape(dense(h, D), [B, T, H, DH]), [0, 2, 1, 3])
    v = transpose(reshape(dense(h, D), [B, T, H, DH]), [0, 2, 1, 3])
    allowed = reshape(arange(T), [T, 1]) >= reshape(arange(T), [1, T])  # key <= query
    s = q @ k.mT / sqrt(DH) - 1e9 * (1 - allowed)
    a = reshape(transpose(softmax(s) @ v, [0, 2, 1, 3]), [B, T, D])
    x1 = x + dense(a, D)
    return x1 + dense(gelu(dense(layer_norm(x1), 4 * D)), D)
}

encoder gpt(ids: i32[B, T]) -> [B, T, brown.vocab] {
    param pos: [T, D] = normal(0, 0.02)
    x = embedding(ids, brown.vocab, D) + pos
    return dense(layer_norm(block(block(x))), brown.vocab)
}

train gpt_b32 {
    data:      brown
    batch:     32
    steps:     50
    optimizer: adam(lr = 3e-4)

    minimize cross_entropy(gpt(ids[:, 0:32]), ids[:, 1:33])
}
