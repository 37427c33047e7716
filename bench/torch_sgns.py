#!/usr/bin/python3
"""Workload 4's second peer: skip-gram with negative sampling in PyTorch, the settings of sgns.rl.

Two embedding tables (word vectors uniform in [-0.5/E, 0.5/E], context vectors zero) with sparse
gradients, plain SGD at a per-pair step of 0.025 decaying linearly to 0, the loss summed over the
batch of 256 (center, context) pairs as std.loss's negative_sampling does. The epoch's pairs are
drawn as word2vec draws them: frequent-word subsampling (sample 1e-3), a window of 1..5 drawn per
center word, pairs within one file, then shuffled; 5 negatives per pair from the unigram
distribution to the power 0.75, drawn fresh each step. Reading the corpus and building the
vocabulary are data loading and not timed; drawing the pairs and training are. Prints one line:
`words=N seconds=S words_per_s=X`, N the in-vocabulary words of the epoch (before subsampling).
--out writes the word vectors in word2vec text format.
"""
import argparse
import collections
import time

import numpy as np
import torch
import torch.nn.functional as F

import brown
from common import setup_threads

E, WINDOW, NEG, MIN_COUNT, SAMPLE, LR, BATCH = 100, 5, 5, 5, 1e-3, 0.025, 256


def vocabulary(docs):
    counts = collections.Counter(w for d in docs for w in d)
    words = sorted((w for w, c in counts.items() if c >= MIN_COUNT), key=lambda w: (-counts[w], w))
    return words, np.array([counts[w] for w in words], dtype=np.float64)


def draw_pairs(ids, doc, keep_p, rng):
    """The epoch's (center, context) pairs, word2vec's way, in a random order."""
    kept = rng.random(ids.shape[0]) < keep_p[ids]
    ids, doc = ids[kept], doc[kept]
    win = rng.integers(1, WINDOW + 1, size=ids.shape[0])
    centers, contexts = [], []
    for d in range(1, WINDOW + 1):
        same = doc[:-d] == doc[d:]
        right = same & (win[:-d] >= d)          # center i, context i + d
        left = same & (win[d:] >= d)            # center i + d, context i
        centers += [ids[:-d][right], ids[d:][left]]
        contexts += [ids[d:][right], ids[:-d][left]]
    c, o = np.concatenate(centers), np.concatenate(contexts)
    order = rng.permutation(c.shape[0])
    return torch.from_numpy(c[order]), torch.from_numpy(o[order])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--files", type=int, default=None, help="use only the first N corpus files")
    ap.add_argument("--out", default=None, help="word2vec text file to write")
    a = ap.parse_args()
    setup_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    docs = brown.documents(a.files)
    words, counts = vocabulary(docs)
    index = {w: i for i, w in enumerate(words)}
    ids = np.array([index[w] for d in docs for w in d if w in index], dtype=np.int64)
    doc = np.array([k for k, d in enumerate(docs) for w in d if w in index], dtype=np.int64)
    total = counts.sum()
    t = SAMPLE * total                          # word2vec's keep probability (sqrt(c/t) + 1) t/c
    keep_p = np.minimum(1.0, (np.sqrt(counts / t) + 1) * t / counts)
    noise = torch.from_numpy(counts ** 0.75)

    word = torch.nn.Embedding(len(words), E, sparse=True)
    ctx = torch.nn.Embedding(len(words), E, sparse=True)
    torch.nn.init.uniform_(word.weight, -0.5 / E, 0.5 / E)
    torch.nn.init.zeros_(ctx.weight)
    opt = torch.optim.SGD([word.weight, ctx.weight], lr=LR)

    t0 = time.perf_counter()
    centers, contexts = draw_pairs(ids, doc, keep_p, rng)
    steps = centers.shape[0] // BATCH
    for s in range(steps):
        opt.param_groups[0]["lr"] = LR * (1 - s / steps)
        c = word(centers[s * BATCH:(s + 1) * BATCH])                      # [B, E]
        o = ctx(contexts[s * BATCH:(s + 1) * BATCH])                      # [B, E]
        n = ctx(torch.multinomial(noise, BATCH * NEG, replacement=True)).view(BATCH, NEG, E)
        pos = (c * o).sum(1)
        neg = torch.bmm(n, c.unsqueeze(2)).squeeze(2)                     # [B, NEG]
        loss = -F.logsigmoid(pos).sum() - F.logsigmoid(-neg).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0

    if a.out:
        with open(a.out, "w") as f:
            f.write(f"{len(words)} {E}\n")
            for w, v in zip(words, word.weight.detach().numpy()):
                f.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
    print(f"words={int(total)} seconds={dt:.3f} words_per_s={total / dt:.1f} steps={steps}", flush=True)


if __name__ == "__main__":
    main()
