#!/usr/bin/python3
"""The MLP auto-encoder workload written the way a good PyTorch user would.

784-256-64-256-784, ReLU, sigmoid output, MSE, Adam(1e-3); optional Bernoulli(keep) input mask
(the denoising workload). Fashion-MNIST is loaded and normalised before timing starts, exactly as
rlc's trainer loads data before its first step. Prints one line: `steps=N ms_per_step=X`.
"""
import argparse, gzip, os, time

import numpy as np
import torch


def load_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 784).astype(np.float32) / 255


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", type=float, default=None, help="denoising: Bernoulli keep probability")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x_all = torch.from_numpy(load_images(a.data))

    def dense(i, o):
        layer = torch.nn.Linear(i, o)
        torch.nn.init.xavier_uniform_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
        return layer

    model = torch.nn.Sequential(dense(784, 256), torch.nn.ReLU(), dense(256, 64),
                                dense(64, 256), torch.nn.ReLU(), dense(256, 784), torch.nn.Sigmoid())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n_batches = x_all.shape[0] // a.batch
    batches = [x_all[i * a.batch:(i + 1) * a.batch] for i in range(n_batches)]

    def step(x):
        inp = x * torch.bernoulli(torch.full_like(x, a.keep)) if a.keep is not None else x
        loss = torch.nn.functional.mse_loss(model(inp), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for i in range(10):  # warm-up: allocator and thread pool settle
        step(batches[i % n_batches])
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(batches[i % n_batches])
    dt = time.perf_counter() - t0
    print(f"steps={a.steps} ms_per_step={1000 * dt / a.steps:.4f}")


if __name__ == "__main__":
    main()
