#!/usr/bin/python3
"""Workload 8 in PyTorch: one SimCLR step of examples/simclr_cnn.rl (bench/simclr_cnn.rl).

Two views of each image by the same formula as the .rl file (a random crop of side 60-100%,
resized back to 28x28 by bilinear resampling written as two batched matrix products, mirrored
half the time, brightness times U(0.6, 1.4)); encoder conv 16 -> pool -> conv 32 -> pool (1,568
features), projection 1568-128-64; NT-Xent at temperature 0.5 over the 2B views; Adam(1e-3).
Prints one line: `steps=N ms_per_step=X` (see common.py for what is timed).
"""
import argparse

import torch
import torch.nn.functional as F
from torch import nn

from common import Batches, fashion_images, setup_threads, time_steps
from torch_cnn import conv, dense


def view(x):
    b = x.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, 1, 1)
    s = u(0.6, 1)
    top, left = u(0, 1) * (1 - s) * 28, u(0, 1) * (1 - s) * 28
    f = (torch.rand(b, 1, 1) < 0.5).float()
    i = torch.arange(28.0).view(1, 28, 1)
    k = torch.arange(28.0).view(1, 1, 28)
    j = k + f * (27 - 2 * k)
    rows = F.relu(1 - (k - (top + (i + 0.5) * s - 0.5)).abs())
    cols = F.relu(1 - (i - (left + (j + 0.5) * s - 0.5)).abs())
    return (rows @ x.view(b, 28, 28) @ cols * u(0.6, 1.4)).view(b, 1, 28, 28)


def nt_xent(z1, z2, tau):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T / tau).fill_diagonal_(-1e9)
    return F.cross_entropy(sim, torch.cat([torch.arange(n) + n, torch.arange(n)]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    setup_threads(a.threads)
    torch.manual_seed(0)
    batches = Batches(torch.from_numpy(fashion_images()).view(-1, 1, 28, 28), a.batch)

    enc = nn.Sequential(conv(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        conv(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    proj = nn.Sequential(dense(32 * 7 * 7, 128), nn.ReLU(), dense(128, 64))
    opt = torch.optim.Adam(list(enc.parameters()) + list(proj.parameters()), lr=1e-3)

    def step():
        x = batches.next()
        loss = nt_xent(proj(enc(view(x))), proj(enc(view(x))), 0.5)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    time_steps(step, a.steps)


if __name__ == "__main__":
    main()
