#!/usr/bin/python3
"""examples/clip.rl's recipe in PyTorch, to run beside rlc's (docs/examples.md, section 7).

    /usr/bin/python3 examples/torch_clip.py [--epochs N] [--limit N] [--threads N] [--seed N]

The same two encoders, initialisation and loss as clip.rl: the image encoder 784-256-64 (ReLU);
the text encoder a transformer over the 4-word caption (word vectors of 32 from N(0, 1) as
std.nn's `embedding`, position vectors from N(0, 0.02), one pre-norm block of 4 heads of 8 with a
tanh-GELU MLP of 128 and no mask, the mean of the 4 layer-normed states projected to 64); dense
and attention weights Glorot-uniform, biases zero. CLIP's symmetric cross-entropy of the cosine
similarities times exp(min(t, ln 100)), t learned from 2.66. Each step captions each image with
its class name in a random one of 9 phrasings ("{a|one|this} {photo|picture|image} of CLASS");
Adam 1e-3, batch 256 from a permutation reshuffled every epoch (the last partial batch kept), 10
epochs; after each epoch the zero-shot accuracy on the 10,000 test images, each given the class
whose "a photo of CLASS" is most similar. The random streams differ from rlc's, so the figures
agree to within run-to-run noise. Debian: apt-get install python3-torch python3-numpy; run with
/usr/bin/python3.
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from torch_reference import dense, idx
from torch_transformer import Block

E, WIDTH, HEADS, HIDDEN, WORDS, VOCAB, CLASSES = 64, 32, 4, 128, 4, 18, 10


def caption(y, a, b):
    """[a|one|this, photo|picture|image, of, CLASS] as clip.rl's word ids: [N, 4]."""
    return torch.stack([1 + a, 4 + b, torch.full_like(y, 7), 8 + y], dim=1)


class Text(nn.Module):
    def __init__(self):
        super().__init__()
        self.words = nn.Parameter(torch.randn(VOCAB, WIDTH))
        self.pos = nn.Parameter(torch.randn(WORDS, WIDTH) * 0.02)
        self.block, self.ln, self.out = Block(WIDTH, HEADS, HIDDEN), nn.LayerNorm(WIDTH), dense(WIDTH, E)

    def forward(self, c):
        return self.out(self.ln(self.block(self.words[c] + self.pos)).mean(dim=1))


def clip_loss(img, txt, t):
    logits = F.normalize(img, eps=1e-6) @ F.normalize(txt, eps=1e-6).T * t.clamp(max=math.log(100)).exp()
    labels = torch.arange(len(img))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y = idx("train-images-idx3-ubyte.gz").reshape(-1, 784), idx("train-labels-idx1-ubyte.gz")
    x_test, y_test = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784), idx("t10k-labels-idx1-ubyte.gz")
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    img = nn.Sequential(dense(784, 256), nn.ReLU(), dense(256, E))
    txt = Text()
    t = nn.Parameter(torch.tensor(2.66))
    opt = torch.optim.Adam([*img.parameters(), *txt.parameters(), t], lr=1e-3)
    classes = caption(torch.arange(CLASSES), torch.zeros(CLASSES, dtype=torch.int64),
                      torch.zeros(CLASSES, dtype=torch.int64))
    for epoch in range(a.epochs):
        t0, total, steps = time.time(), 0.0, 0
        order = torch.randperm(len(x))
        for at in range(0, len(x), 256):
            rows = order[at:at + 256]
            yb = y[rows]
            c = caption(yb, torch.randint(0, 3, yb.shape), torch.randint(0, 3, yb.shape))
            loss = clip_loss(img(x[rows]), txt(c), t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        with torch.no_grad():
            sims = F.normalize(img(x_test), eps=1e-6) @ F.normalize(txt(classes), eps=1e-6).T
            acc = (sims.argmax(dim=1) == y_test).float().mean().item()
        print(f"align epoch {epoch + 1}/{a.epochs}  loss {total / steps:.4f}  temperature "
              f"{t.exp().item():.2f}  zero_shot acc {acc:.4f}  ({time.time() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
