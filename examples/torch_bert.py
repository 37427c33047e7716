#!/usr/bin/python3
"""examples/bert.rl's baselines and its recipe in PyTorch, to run beside rlc's (docs/examples.md).

    /usr/bin/python3 examples/torch_bert.py baselines   # unigram masked-word and tagging baselines
    /usr/bin/python3 examples/torch_bert.py bert        # bert.rl's stages, trained in PyTorch
    options: --steps N (pre-training), --probe-steps N, --threads N, --seed N,
             --data DIR (default: $RL_DATA_PATH/brown)

The corpus is read as rlc reads it (docs/language.md, text and tags): the files of brown/ in name
order, words split on white space, a word/TAG token keeping `word` (lowercased) and `TAG` (as
written, after the last '/'); words seen fewer than 10 times in the whole corpus are <unk> (id 0),
the others ids 1.. by falling count, ties by bytes; tags ids 1.. the same way (0: no tag). Windows
of 32 tokens every 32, the first 90% of the tokens for training, the last 10% held out, as
`sequences(..., length = 32, end = 0.9)` / `start = 0.9`.

Baselines (fitted on the training windows, scored on the held-out ones): the unigram model of the
words (add-one counts: what a masked-word model that ignores the context scores), the most frequent
tag, and each word's most frequent tag (the known result a tagger that sees one word at a time
reaches; an unseen word gets the most frequent tag).

The recipe: the same layers, sizes and initialisation as bert.rl (embeddings normal(0, 0.02) with
one more row for [MASK]; dense and attention weights Glorot-uniform, biases zero; layer_norm scale
1, shift 0; pre-norm blocks with a tanh-GELU MLP, no causal mask), the same corruption (5 of the 32
positions per window without replacement, 80% [MASK], 10% a random id in [0, vocab), 10% left; the
loss at those 5 only), AdamW 3e-3 with weight decay 0.01 on every parameter, cosine schedule with
linear warm-up to 10%, global-norm clipping at 1, batch 32 from a permutation reshuffled every
epoch; then three linear probes (Adam 1e-2, batch 64) with the encoder frozen: on the pre-trained
encoder, on an untrained one, and on the pre-trained word + position embeddings alone. The random
streams differ from rlc's, so the figures agree to within run-to-run noise. Debian: apt-get install python3-torch; run with /usr/bin/python3.
"""
import argparse
import math
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

from brown_ids import read_corpus
from torch_reference import dense
from torch_transformer import Block

D, H, T, K, MIN_COUNT = 64, 4, 32, 5, 10


def windows(tokens, start, end):
    """sequences(length = 32, start, end): [N, 32]."""
    n = len(tokens)
    part = tokens[int(start * n):int(end * n)]
    return part[:(len(part) // T) * T].view(-1, T)


def baselines(ids, tags, vocab, n_tags):
    tr_w, te_w = windows(ids, 0, 0.9).reshape(-1), windows(ids, 0.9, 1).reshape(-1)
    tr_t, te_t = windows(tags, 0, 0.9).reshape(-1), windows(tags, 0.9, 1).reshape(-1)
    uni = torch.bincount(tr_w, minlength=vocab).double() + 1
    uni /= uni.sum()
    print(f"unigram             masked_xent {-uni[te_w].log().mean():.4f}  (untrained: ln {vocab} = {math.log(vocab):.2f})")
    top = torch.bincount(tr_t, minlength=n_tags).argmax()
    print(f"most frequent tag   acc {(te_t == top).double().mean():.4f}")
    pair = torch.zeros(vocab, n_tags, dtype=torch.int64)
    pair.index_put_((tr_w, tr_t), torch.ones_like(tr_w), accumulate=True)
    best = pair.argmax(1)
    best[pair.sum(1) == 0] = top
    print(f"word's own tag      acc {(best[te_w] == te_t).double().mean():.4f}  (<unk> gets its own most frequent tag)")


class Encoder(nn.Module):
    """bert.rl's embed and blocks: word (+ [MASK]) and position embeddings, two blocks, layer_norm."""

    def __init__(self, vocab):
        super().__init__()
        self.wte = nn.Parameter(torch.randn(vocab + 1, D) * 0.02)
        self.wpe = nn.Parameter(torch.randn(T, D) * 0.02)
        self.blocks = nn.Sequential(Block(D, H, 4 * D), Block(D, H, 4 * D))
        self.ln = nn.LayerNorm(D)

    def embed(self, x):
        return self.wte[x] + self.wpe

    def forward(self, x):
        return self.ln(self.blocks(self.embed(x)))


def corrupt(ids, vocab):
    """bert.rl's corrupt: K positions per window without replacement, 80/10/10; the corrupted
    windows, the chosen positions and the words there."""
    b = ids.shape[0]
    at = torch.rand(b, T).argsort(dim=1)[:, :K]
    chosen = torch.zeros(b, T, dtype=torch.bool).scatter_(1, at, True)
    r = torch.rand(b, T)
    x = torch.where(chosen & (r < 0.8), torch.full_like(ids, vocab), ids)
    x = torch.where(chosen & (r >= 0.8) & (r < 0.9), torch.randint(0, vocab, ids.shape), x)
    return x, at, ids.gather(1, at)


def batches(n, size, steps):
    """Indices of `steps` batches from a permutation reshuffled every epoch (the last partial batch
    of an epoch is used, as rlc does)."""
    order, at = torch.randperm(n), 0
    for _ in range(steps):
        if at >= n:
            order, at = torch.randperm(n), 0
        yield order[at:at + size]
        at += size


def pretrain(encoder, words, train, val, vocab, steps):
    params = list(encoder.parameters()) + list(words.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.01)
    warmup = 100

    def rate(step):
        if step < warmup:
            return (step + 1) / warmup
        p = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, rate)
    t0, total, count = time.time(), 0.0, 0
    for step, rows in enumerate(batches(len(train), 32, steps)):
        x, at, y = corrupt(train[rows], vocab)
        h = encoder(x).gather(1, at.unsqueeze(-1).expand(-1, -1, D))
        loss = F.cross_entropy(words(h).reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        total, count = total + loss.item(), count + 1
        if (step + 1) % 500 == 0 or step + 1 == steps:
            print(f"  mlm step {step + 1}  mean loss of the last {count} steps {total / count:.4f}", flush=True)
            total, count = 0.0, 0
    seconds = time.time() - t0
    with torch.no_grad():
        xent = 0.0
        for i in range(0, len(val), 64):
            x, at, y = corrupt(val[i:i + 64], vocab)
            h = encoder(x).gather(1, at.unsqueeze(-1).expand(-1, -1, D))
            xent += F.cross_entropy(words(h).reshape(-1, vocab), y.reshape(-1), reduction="sum").item()
    print(f"mlm  masked_xent {xent / (len(val) * K):.4f}  ({steps} steps, {1000 * seconds / steps:.0f} ms/step)",
          flush=True)


def probe(name, features, train_w, train_t, test_w, test_t, n_tags, steps):
    """A linear tagger on frozen features: Adam 1e-2, batch 64; held-out accuracy."""
    tagger = dense(D, n_tags)
    opt = torch.optim.Adam(tagger.parameters(), lr=1e-2)
    t0 = time.time()
    for rows in batches(len(train_w), 64, steps):
        with torch.no_grad():
            h = features(train_w[rows])
        loss = F.cross_entropy(tagger(h).reshape(-1, n_tags), train_t[rows].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.time() - t0
    with torch.no_grad():
        hits = sum((tagger(features(test_w[i:i + 64])).argmax(-1) == test_t[i:i + 64]).sum().item()
                   for i in range(0, len(test_w), 64))
    print(f"{name:<14} acc {hits / test_t.numel():.4f}  (train loss {loss.item():.4f}, {steps} steps, "
          f"{1000 * seconds / steps:.0f} ms/step)", flush=True)


def bert(ids, tags, vocab, n_tags, steps, probe_steps, seed):
    torch.manual_seed(seed)
    train, val = windows(ids, 0, 0.9), windows(ids, 0.9, 1)
    train_t, val_t = windows(tags, 0, 0.9), windows(tags, 0.9, 1)
    encoder, words = Encoder(vocab), dense(D, vocab)
    untrained = Encoder(vocab)
    pretrain(encoder, words, train, val, vocab, steps)
    for p in list(encoder.parameters()) + list(untrained.parameters()):
        p.requires_grad_(False)
    probe("probe", encoder, train, train_t, val, val_t, n_tags, probe_steps)
    probe("random_probe", untrained, train, train_t, val, val_t, n_tags, probe_steps)
    probe("embed_probe", encoder.embed, train, train_t, val, val_t, n_tags, probe_steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["baselines", "bert"])
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--probe-steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(os.environ.get("RL_DATA_PATH", "data").split(":")[0], "brown"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ids, tags, vocab, n_tags = read_corpus(a.data, MIN_COUNT)
    print(f"corpus {len(ids)} tokens, vocabulary {vocab}, {n_tags} tag ids, "
          f"{len(windows(ids, 0, 0.9))} training and {len(windows(ids, 0.9, 1))} held-out windows")
    if a.what == "baselines":
        baselines(ids, tags, vocab, n_tags)
    else:
        bert(ids, tags, vocab, n_tags, a.steps, a.probe_steps, a.seed)


if __name__ == "__main__":
    main()
