"""Inputs for llm.c's train_gpt2.c on workload 9's configuration (bench/llmc/run.sh).

brown_train.bin: llm.c's token file (header of 256 int32: magic 20240520, version 1, token
count; then uint16 ids) of the Brown word ids exactly as torch_gpt.py (and rlc's text()) number
them, min count 10. gpt_brown.bin: an llm.c checkpoint (magic 20240326, version 3) of a random
GPT with max T 32, vocabulary 8,505 padded to 8,512, 2 layers, 4 heads, 128 channels: weights
N(0, 0.02), layer-norm gains 1, biases 0, in llm.c's parameter order.
"""
import sys, struct, numpy as np
sys.path.insert(0, sys.argv[1])
import torch_gpt
ids, V = torch_gpt.ids_of_corpus(10)
ids = ids.numpy().astype(np.uint16)
with open("brown_train.bin", "wb") as f:
    h = np.zeros(256, np.int32); h[0] = 20240520; h[1] = 1; h[2] = len(ids)
    f.write(h.tobytes()); f.write(ids.tobytes())
maxT, L, NH, C = 32, 2, 4, 128
Vp = (V + 63) // 64 * 64
rng = np.random.default_rng(0)
n = lambda *s: (rng.standard_normal(s) * 0.02).astype(np.float32)
z = lambda *s: np.zeros(s, np.float32)
o = lambda *s: np.ones(s, np.float32)
parts = [n(Vp, C), n(maxT, C), o(L, C), z(L, C), n(L, 3 * C, C), z(L, 3 * C), n(L, C, C), z(L, C),
         o(L, C), z(L, C), n(L, 4 * C, C), z(L, 4 * C), n(L, C, 4 * C), z(L, C), o(C), z(C)]
with open("gpt_brown.bin", "wb") as f:
    h = np.zeros(256, np.int32); h[:8] = [20240326, 3, maxT, V, L, NH, C, Vp]
    f.write(h.tobytes())
    for p in parts: f.write(p.tobytes())
print(V, Vp, len(ids))
