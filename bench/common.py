"""What the peers share: data loading (outside the timed region) and the one result line.

Every peer times its training loop the way rlc's trainer does: data are read, decoded and
normalised first; the clock starts before the first step and stops after the last; the count of
steps is fixed. Batches are drawn from a permutation of the training set, reshuffled each epoch,
and gathered inside the loop, as rlc's trainer gathers each batch.
"""
import gzip
import os
import time

import numpy as np
import torch

FASHION = "/usr/share/datasets/fashion-mnist"


def fashion_images(path=os.path.join(FASHION, "train-images-idx3-ubyte.gz")):
    """The IDX image file as float32 [N, 784] in [0, 1]."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if int.from_bytes(data[0:4], "big") != 0x00000803:
        raise SystemExit(f"{path}: not an IDX image file (bad magic)")
    n = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 784).astype(np.float32) / 255


def fashion_labels(path=os.path.join(FASHION, "train-labels-idx1-ubyte.gz")):
    """The IDX label file as int64 [N]."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if int.from_bytes(data[0:4], "big") != 0x00000801:
        raise SystemExit(f"{path}: not an IDX label file (bad magic)")
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)


def setup_threads(n):
    """Intra-op threads; OpenBLAS reads OPENBLAS_NUM_THREADS, which run.sh sets to the same n."""
    torch.set_num_threads(n)
    torch.set_num_interop_threads(1)


class Batches:
    """Shuffled mini-batches of a tensor: a fresh permutation every epoch, last partial batch dropped."""

    def __init__(self, x, batch, seed=0):
        self.x, self.batch = x, batch
        self.gen = torch.Generator().manual_seed(seed)
        self.per_epoch = x.shape[0] // batch
        self.i = self.per_epoch

    def next(self):
        if self.i == self.per_epoch:
            self.perm = torch.randperm(self.x.shape[0], generator=self.gen)
            self.i = 0
        idx = self.perm[self.i * self.batch:(self.i + 1) * self.batch]
        self.i += 1
        return self.x.index_select(0, idx)


def time_steps(step, steps):
    """Runs step() `steps` times; prints and returns the mean wall time per step in ms."""
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    ms = 1000 * (time.perf_counter() - t0) / steps
    print(f"steps={steps} ms_per_step={ms:.4f}", flush=True)
    return ms
