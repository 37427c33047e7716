#!/usr/bin/python3
"""Workloads 1 and 2 in PyTorch: the MLP auto-encoder, written the way a good PyTorch user would.

784-256-64-256-784, ReLU, sigmoid output, MSE, Adam(1e-3), Glorot-uniform weights and zero
biases (as std.nn's dense). With --keep p (workload 2, the denoising auto-encoder) each step
multiplies the input by a fresh Bernoulli(p) mask and reconstructs the clean image.
Prints one line: `steps=N ms_per_step=X` (see common.py for what is timed).
"""
import argparse

import torch

from common import Batches, fashion_images, setup_threads, time_steps


def dense(i, o):
    layer = torch.nn.Linear(i, o)
    torch.nn.init.xavier_uniform_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    return layer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", type=float, default=None, help="denoising: Bernoulli keep probability")
    a = ap.parse_args()
    setup_threads(a.threads)
    torch.manual_seed(0)
    batches = Batches(torch.from_numpy(fashion_images()), a.batch)

    model = torch.nn.Sequential(dense(784, 256), torch.nn.ReLU(), dense(256, 64),
                                dense(64, 256), torch.nn.ReLU(), dense(256, 784), torch.nn.Sigmoid())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        x = batches.next()
        inp = x * torch.bernoulli(torch.full_like(x, a.keep)) if a.keep is not None else x
        loss = torch.nn.functional.mse_loss(model(inp), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    time_steps(step, a.steps)


if __name__ == "__main__":
    main()
