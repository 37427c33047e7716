#!/usr/bin/python3
"""examples/gpt.rl's baselines and its recipe in PyTorch, to run beside rlc's (docs/examples.md).

    /usr/bin/python3 examples/torch_gpt.py baselines   # unigram and bigram perplexity of the split
    /usr/bin/python3 examples/torch_gpt.py gpt         # the GPT of gpt.rl, trained in PyTorch
    options: --steps N, --threads N, --seed N, --data DIR (default: $RL_DATA_PATH/brown)

The corpus is read as rlc reads it (docs/language.md, text): the files of brown/ in name order,
words split on white space, a word/TAG token keeping `word`, lowercased; words seen fewer than 10
times in the whole corpus are <unk> (id 0), the others ids 1.. by falling count, ties by bytes. The
first 90% of the tokens train, the last 10% validate, in windows of 33 tokens every 32 (32 inputs,
32 targets), as `sequences(..., length = 33, stride = 32, end = 0.9)` / `start = 0.9`.

Baselines, fitted on the training windows' targets and scored on the validation windows' targets:
the unigram model (add-one counts), and the bigram model interpolated with it,
p(w | v) = l c(v, w) / c(v) + (1 - l) p_uni(w), l chosen on a grid by validation perplexity (an
upper bound on what the bigram can do, so generous to the baseline).

The GPT: the same layers, sizes, initialisation (embeddings normal(0, 0.02); dense and attention
weights Glorot-uniform, biases zero; layer_norm scale 1, shift 0), AdamW with weight decay on every
parameter (as rlc applies it), the cosine schedule with linear warm-up, global-norm clipping, batch
32 from a permutation reshuffled every epoch. The random streams differ from rlc's, so the figures
agree to within run-to-run noise. Debian: apt-get install python3-torch; run with /usr/bin/python3.
"""
import argparse
import math
import os
import time
from collections import Counter

import torch
import torch.nn.functional as F
from torch import nn

import brown_ids
from torch_reference import dense
from torch_transformer import Block

D, H, T, MIN_COUNT = 64, 4, 32, 10


def read_corpus(folder):
    """Token ids as rlc's text(..., lowercase = true, min_count = 10), and the vocabulary size."""
    ids, _, vocab, _ = brown_ids.read_corpus(folder, MIN_COUNT)
    return ids, vocab


def windows(tokens, start, end):
    """sequences(length = 33, stride = 32, start, end): [N, 33]."""
    n = len(tokens)
    part = tokens[int(start * n):int(end * n)]
    count = (len(part) - (T + 1)) // T + 1
    return torch.stack([part[i * T:i * T + T + 1] for i in range(count)])


def baselines(train, val, vocab):
    x_tr, y_tr = train[:, :T].reshape(-1), train[:, 1:].reshape(-1)
    x_va, y_va = val[:, :T].reshape(-1), val[:, 1:].reshape(-1)
    uni = torch.bincount(y_tr, minlength=vocab).double() + 1
    uni /= uni.sum()
    print(f"unigram  val_xent {-uni[y_va].log().mean():.4f}  ppl {math.exp(-uni[y_va].log().mean()):.1f}")
    pair = Counter(zip(x_tr.tolist(), y_tr.tolist()))
    prev = Counter(x_tr.tolist())
    big = torch.tensor([pair.get((v, w), 0) / prev[v] if prev[v] else 0.0
                        for v, w in zip(x_va.tolist(), y_va.tolist())], dtype=torch.float64)
    best = None
    for lam in [i / 20 for i in range(1, 20)]:
        xent = -(lam * big + (1 - lam) * uni[y_va]).log().mean().item()
        if best is None or xent < best[1]:
            best = (lam, xent)
    print(f"bigram   val_xent {best[1]:.4f}  ppl {math.exp(best[1]):.1f}  (interpolated, l = {best[0]:.2f})")


class GPT(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.wte = nn.Parameter(torch.randn(vocab, D) * 0.02)
        self.wpe = nn.Parameter(torch.randn(T, D) * 0.02)
        self.blocks = nn.Sequential(Block(D, H, 4 * D, causal=T), Block(D, H, 4 * D, causal=T))
        self.ln = nn.LayerNorm(D)
        self.out = dense(D, vocab)

    def forward(self, x):
        return self.out(self.ln(self.blocks(self.wte[x] + self.wpe)))


def train_gpt(train, val, vocab, steps, seed):
    torch.manual_seed(seed)
    model = GPT(vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    warmup = 60

    def rate(step):
        if step < warmup:
            return (step + 1) / warmup
        p = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, rate)
    order, at, t0, window = torch.randperm(len(train)), 0, time.time(), []
    for step in range(steps):
        if at + 32 > len(order):
            order, at = torch.randperm(len(train)), 0
        batch = train[order[at:at + 32]]
        at += 32
        loss = F.cross_entropy(model(batch[:, :T]).reshape(-1, vocab), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        window.append(loss.item())
        if len(window) == 100 or step == steps - 1:
            print(f"steps {step + 2 - len(window)}-{step + 1}: mean train loss {sum(window) / len(window):.4f}", flush=True)
            window = []
    seconds = time.time() - t0
    model.eval()
    with torch.no_grad():
        total = sum(F.cross_entropy(model(val[i:i + 64, :T]).reshape(-1, vocab), val[i:i + 64, 1:].reshape(-1),
                                    reduction="sum").item() for i in range(0, len(val), 64))
    xent = total / (len(val) * T)
    print(f"gpt  train_loss {loss.item():.4f}  val_xent {xent:.4f}  ppl {math.exp(xent):.1f}  "
          f"({steps} steps, {1000 * seconds / steps:.0f} ms/step)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["baselines", "gpt"])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(os.environ.get("RL_DATA_PATH", "data").split(":")[0], "brown"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tokens, vocab = read_corpus(a.data)
    train, val = windows(tokens, 0, 0.9), windows(tokens, 0.9, 1)
    print(f"corpus {len(tokens)} tokens, vocabulary {vocab}, {len(train)} training and {len(val)} validation windows")
    if a.what == "baselines":
        baselines(train, val, vocab)
    else:
        train_gpt(train, val, vocab, a.steps, a.seed)


if __name__ == "__main__":
    main()
