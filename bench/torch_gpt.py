#!/usr/bin/python3
"""Workload 9 in PyTorch: the GPT step of bench/gpt.rl, module for module.

Windows of 33 word ids of the Brown corpus (lowercased `word` of `word/TAG`, files joined in name
order, a window every 32 tokens), vocabulary at min count 10 as rlc's text() builds it (id 0 the
unknown word, then by falling count, ties by the word's bytes). Inputs are the first 32 ids,
targets the last 32. Model: token embedding N(0, 1) + learned positions N(0, 0.02), D = 128,
2 pre-norm blocks (causal self-attention, 4 heads of 32, separate q/k/v/out projections with bias;
GELU (tanh form) MLP of 4D), final layer norm, untied output projection with bias; Linear weights
Glorot-uniform, biases zero (std.nn's dense). Adam(3e-4), batch 32, softmax cross-entropy.
Prints `steps=N ms_per_step=X` and `loss=L` (the mean loss over the steps, as rlc's epoch line).
"""
import argparse
import collections
import math

import torch
import torch.nn.functional as F

import brown
from common import Batches, setup_threads, time_steps

T, D, H = 32, 128, 4


def ids_of_corpus(min_count):
    words = [w for doc in brown.documents() for w in doc]
    counts = collections.Counter(words)
    kept = sorted((w for w, c in counts.items() if c >= min_count),
                  key=lambda w: (-counts[w], w.encode("utf-8")))
    index = {w: i + 1 for i, w in enumerate(kept)}
    return torch.tensor([index.get(w, 0) for w in words], dtype=torch.int64), len(kept) + 1


def dense(i, o):
    layer = torch.nn.Linear(i, o)
    torch.nn.init.xavier_uniform_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    return layer


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        self.q, self.k, self.v, self.o = dense(D, D), dense(D, D), dense(D, D), dense(D, D)
        self.fc, self.proj = dense(D, 4 * D), dense(4 * D, D)
        self.register_buffer("allowed", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, x):
        b = x.shape[0]
        h = self.ln1(x)
        heads = [f(h).view(b, T, H, D // H).transpose(1, 2) for f in (self.q, self.k, self.v)]
        s = heads[0] @ heads[1].transpose(-2, -1) / math.sqrt(D // H)
        s = s.masked_fill(~self.allowed, float("-inf"))
        a = (torch.softmax(s, dim=-1) @ heads[2]).transpose(1, 2).reshape(b, T, D)
        x = x + self.o(a)
        return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.tok = torch.nn.Embedding(vocab, D)
        self.pos = torch.nn.Parameter(torch.randn(T, D) * 0.02)
        self.blocks = torch.nn.Sequential(Block(), Block())
        self.ln = torch.nn.LayerNorm(D)
        self.out = dense(D, vocab)

    def forward(self, ids):
        return self.out(self.ln(self.blocks(self.tok(ids) + self.pos)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    setup_threads(a.threads)
    torch.manual_seed(0)
    ids, vocab = ids_of_corpus(10)
    n = (ids.numel() - (T + 1)) // T + 1
    windows = torch.stack([ids[i * T:i * T + T + 1] for i in range(n)])
    batches = Batches(windows, a.batch)
    model = GPT(vocab)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    losses = []

    def step():
        w = batches.next()
        logits = model(w[:, :T])
        loss = F.cross_entropy(logits.reshape(-1, vocab), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())

    time_steps(step, a.steps)
    print(f"vocab={vocab} windows={n} loss={torch.stack(losses).mean().item():.4f}", flush=True)


if __name__ == "__main__":
    main()
