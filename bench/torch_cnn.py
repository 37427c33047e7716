#!/usr/bin/python3
"""Workload 7 in PyTorch: one step of the supervised CNN of examples/cnn.rl (bench/cnn.rl).

conv 32 -> pool -> conv 64 -> pool -> dense 128 -> 10 (3x3 kernels, padding 1, 2x2 max pooling,
ReLU, dropout 0.3 before the last layer), cross-entropy, Adam(1e-3); conv weights He-normal, dense
weights Glorot-uniform, biases zero (as std.nn). PyTorch runs the convolutions with oneDNN.
Prints one line: `steps=N ms_per_step=X` (see common.py for what is timed).
"""
import argparse

import torch
from torch import nn

from common import Batches, fashion_images, fashion_labels, setup_threads, time_steps


def dense(i, o):
    layer = nn.Linear(i, o)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def conv(c, o, k, **kw):
    layer = nn.Conv2d(c, o, k, **kw)
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    nn.init.zeros_(layer.bias)
    return layer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    setup_threads(a.threads)
    torch.manual_seed(0)
    x = torch.from_numpy(fashion_images()).view(-1, 1, 28, 28)
    y = torch.from_numpy(fashion_labels())
    batches = Batches(torch.arange(len(x)), a.batch)

    cnn = nn.Sequential(conv(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        conv(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), dense(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), dense(128, 10))
    opt = torch.optim.Adam(cnn.parameters(), lr=1e-3)

    def step():
        i = batches.next()
        loss = nn.functional.cross_entropy(cnn(x.index_select(0, i)), y.index_select(0, i))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    time_steps(step, a.steps)


if __name__ == "__main__":
    main()
