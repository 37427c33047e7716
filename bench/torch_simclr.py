#!/usr/bin/python3
"""Workload 3 in PyTorch: one SimCLR step, written the way a good PyTorch user would.

Encoder 784-512-128 (ReLU after each layer), projection 128-64; two views of each image (a random
shift of up to 2 pixels in each direction with zero fill, then Gaussian noise of std 0.1);
NT-Xent at temperature 0.5 over the 2B views; Adam(1e-3); Glorot-uniform weights, zero biases.
Prints one line: `steps=N ms_per_step=X` (see common.py for what is timed).
"""
import argparse

import torch
import torch.nn.functional as F

from common import Batches, fashion_images, setup_threads, time_steps

SHIFT = 2


def dense(i, o):
    layer = torch.nn.Linear(i, o)
    torch.nn.init.xavier_uniform_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    return layer


def view(x):
    """Each 28x28 image shifted by its own (dy, dx) in [-2, 2]^2, zero fill, plus N(0, 0.1^2)."""
    b = x.shape[0]
    padded = F.pad(x.view(b, 28, 28), (SHIFT, SHIFT, SHIFT, SHIFT))
    off = torch.randint(0, 2 * SHIFT + 1, (2, b, 1))
    rows = (torch.arange(28) + off[0]).unsqueeze(2)            # [b, 28, 1]
    cols = (torch.arange(28) + off[1]).unsqueeze(1)            # [b, 1, 28]
    shifted = padded[torch.arange(b).view(b, 1, 1), rows, cols]
    return shifted.reshape(b, 784) + 0.1 * torch.randn_like(x)


def nt_xent(z1, z2, tau):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T / tau).fill_diagonal_(-1e9)
    partner = torch.cat([torch.arange(n) + n, torch.arange(n)])
    return F.cross_entropy(sim, partner)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    setup_threads(a.threads)
    torch.manual_seed(0)
    batches = Batches(torch.from_numpy(fashion_images()), a.batch)

    enc = torch.nn.Sequential(dense(784, 512), torch.nn.ReLU(), dense(512, 128), torch.nn.ReLU())
    proj = dense(128, 64)
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
