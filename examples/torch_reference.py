#!/usr/bin/python3
"""The convolutional examples' recipes in PyTorch, to run beside rlc's (docs/examples.md).

    /usr/bin/python3 examples/torch_reference.py cnn             # examples/cnn.rl
    /usr/bin/python3 examples/torch_reference.py conv_denoising  # examples/conv_denoising.rl
    /usr/bin/python3 examples/torch_reference.py simclr_cnn      # examples/simclr_cnn.rl
    options: --epochs N (every train stage, as `rlc run --epochs`), --limit N (at most N training
    examples in every stage, as `rlc run --limit`), --stages "a b" (only these train stages and
    the evals that need them), --threads N, --seed N
    simclr_cnn only: --save-encoder F.rlw writes the contrast stage's encoder as an rlc parameter
    file (safetensors, rlc's names), for `load:` in rlc; --load-encoder F.rlw takes the encoder
    from an rlc parameter file (`simclr_cnn.rlw`) instead of training the contrast stage. So each
    side's downstream stages can be run on the other side's representation.

Same models layer by layer, initialisation (conv and deconv weights He-normal with PyTorch's
fan-in, as std.nn; dense weights Glorot-uniform; biases zero), optimisers, batch sizes, epochs,
views and losses as the .rl files; batches from a permutation reshuffled every epoch, the last
partial batch kept. The random streams differ from rlc's, so the figures agree to within
run-to-run noise, not digit for digit. Each stage prints `STAGE name value` lines.
Debian: apt-get install python3-torch python3-numpy; run with /usr/bin/python3.
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FASHION = "/usr/share/datasets/fashion-mnist"


def idx(name):
    """An IDX file of Fashion-MNIST: images as float32 [N, 1, 28, 28] / 255, labels as int64 [N]."""
    with gzip.open(os.path.join(FASHION, name), "rb") as f:
        data = f.read()
    magic, n = int.from_bytes(data[0:4], "big"), int.from_bytes(data[4:8], "big")
    if magic == 0x803:
        return torch.from_numpy(np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, 28, 28)
                                .astype(np.float32) / 255)
    if magic == 0x801:
        return torch.from_numpy(np.frombuffer(data, np.uint8, offset=8).astype(np.int64))
    raise SystemExit(f"{name}: not an IDX file (bad magic {magic:#x})")


def dense(i, o):
    layer = nn.Linear(i, o)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def conv(c, o, k, **kw):
    layer = nn.Conv2d(c, o, k, **kw)
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")   # std sqrt(2 / (c k k))
    nn.init.zeros_(layer.bias)
    return layer


def deconv(c, o, k, **kw):
    layer = nn.ConvTranspose2d(c, o, k, **kw)
    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")   # std sqrt(2 / (o k k)), as std.nn
    nn.init.zeros_(layer.bias)
    return layer


class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class Run:
    """The command line's budget and the random stream every stage draws from."""

    def __init__(self, a):
        self.a = a
        self.gen = torch.Generator().manual_seed(a.seed)

    def wants(self, stage):
        return not self.a.stages or stage in self.a.stages.split()

    def train(self, stage, modules, loss_of, n, batch, epochs, lr, after_epoch=None):
        """Adam(lr) on the parameters of `modules` over `epochs` epochs of the first n examples;
        loss_of(idx) is the minimised scalar; after_epoch() runs after each (rlc's `validate`)."""
        epochs = self.a.epochs or epochs
        n = min(n, self.a.limit)
        params = [p for m in modules for p in m.parameters()]
        opt = torch.optim.Adam(params, lr=lr)
        t0 = time.perf_counter()
        for e in range(epochs):
            for m in modules:
                m.train()
            perm = torch.randperm(n, generator=self.gen)
            total = 0.0
            for i in range(0, n, batch):
                idx = perm[i:i + batch]
                loss = loss_of(idx)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            # the epoch's row-weighted mean, as rlc prints it
            print(f"{stage} epoch {e + 1}/{epochs} loss {total / n:.4f}  "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
            if after_epoch:
                after_epoch()
        for m in modules:
            m.eval()


@torch.no_grad()
def evaluate(stage, figures_of, n, batch=1000):
    """The mean over the n test examples of each figure figures_of(idx) returns (a dict)."""
    sums = {}
    for i in range(0, n, batch):
        idx = torch.arange(i, min(n, i + batch))
        for k, v in figures_of(idx).items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
    for k, v in sums.items():
        print(f"{stage} {k} {v / n:.4f}", flush=True)


def accuracy(logits, y):
    return (logits.argmax(1) == y).float().mean()


def data(labels=True):
    x, xt = idx("train-images-idx3-ubyte.gz"), idx("t10k-images-idx3-ubyte.gz")
    if not labels:
        return x, xt
    return x, idx("train-labels-idx1-ubyte.gz"), xt, idx("t10k-labels-idx1-ubyte.gz")


# ---------------------------------------------------------------- examples/cnn.rl
def run_cnn(r):
    x, y, xt, yt = data()
    cnn = nn.Sequential(conv(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        conv(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), dense(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), dense(128, 10))
    test = lambda: evaluate("test", lambda i: {"acc": accuracy(cnn(xt[i]), yt[i])}, len(xt))
    r.train("supervised", [cnn], lambda i: F.cross_entropy(cnn(x[i]), y[i]), len(x), 64, 5, 1e-3,
            after_epoch=lambda: (cnn.eval(), test()))


# ---------------------------------------------------------------- examples/conv_denoising.rl
def down(z=32):
    return nn.Sequential(conv(1, 16, 3, stride=2, padding=1), nn.ReLU(),
                         conv(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), dense(32 * 7 * 7, z))


def corrupt(x, gen, keep=0.7, std=0.1):
    return x * (torch.rand(x.shape, generator=gen) < keep) + std * torch.randn(x.shape, generator=gen)


def hide_patches(x, gen, keep=0.25):
    """7x7 patches of 4x4 pixels, each seen with probability keep; m [B, 7, 7], 1 = seen."""
    m = (torch.rand(x.shape[0], 7, 7, generator=gen) < keep).float()
    return x * m.repeat_interleave(4, 1).repeat_interleave(4, 2).unsqueeze(1), m


def hidden_px(xhat, x, m):
    h = (1 - m).repeat_interleave(4, 1).repeat_interleave(4, 2).unsqueeze(1)
    return ((xhat - x) ** 2 * h).mean() / h.mean().clamp_min(1e-6)


def run_conv_denoising(r):
    x, xt = data(labels=False)
    g = r.gen
    if r.wants("denoise"):
        enc = down()
        dec = nn.Sequential(dense(32, 32 * 7 * 7), nn.ReLU(), Reshape(32, 7, 7),
                            deconv(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                            deconv(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())
        r.train("denoise", [enc, dec], lambda i: F.mse_loss(dec(enc(corrupt(x[i], g))), x[i]),
                len(x), 128, 10, 1e-3)

        def figures(i):
            noisy = corrupt(xt[i], g)
            return {"mse_px": F.mse_loss(dec(enc(noisy)), xt[i]), "mse_corrupted": F.mse_loss(noisy, xt[i])}
        evaluate("denoise_test", figures, len(xt))
    if r.wants("masked"):
        enc = down()
        dec = nn.Sequential(dense(32, 32 * 7 * 7), nn.ReLU(), Reshape(32, 7, 7),
                            nn.Upsample(scale_factor=2), conv(32, 16, 3, padding=1), nn.ReLU(),
                            deconv(16, 1, 4, stride=2, padding=1), nn.Sigmoid())

        def loss(i):
            seen, m = hide_patches(x[i], g)
            return hidden_px(dec(enc(seen)), x[i], m)
        r.train("masked", [enc, dec], loss, len(x), 128, 10, 1e-3)

        def figures(i):
            seen, m = hide_patches(xt[i], g)
            xhat = dec(enc(seen))
            return {"mse_hidden": hidden_px(xhat, xt[i], m), "mse_px": F.mse_loss(xhat, xt[i]),
                    "mse_corrupted": F.mse_loss(seen, xt[i])}
        evaluate("masked_test", figures, len(xt))


# ---------------------------------------------------------------- examples/simclr_cnn.rl
def view(x, gen, smin=0.6, flip=0.5, dark=0.6, bright=1.4):
    """The .rl file's view, the same formula: a random crop of side smin-1 of the image anywhere
    in it, resized to 28x28 by bilinear resampling (R x C), mirrored half the time, brightness
    times U(dark, bright)."""
    b = x.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(b, 1, 1, generator=gen)
    s = u(smin, 1)
    top, left = u(0, 1) * (1 - s) * 28, u(0, 1) * (1 - s) * 28
    f = (torch.rand(b, 1, 1, generator=gen) < flip).float()
    i = torch.arange(28.0).view(1, 28, 1)
    k = torch.arange(28.0).view(1, 1, 28)
    j = k + f * (27 - 2 * k)
    rows = F.relu(1 - (k - (top + (i + 0.5) * s - 0.5)).abs())
    cols = F.relu(1 - (i - (left + (j + 0.5) * s - 0.5)).abs())
    v = rows @ x.view(b, 28, 28) @ cols
    return (v * u(dark, bright)).view(b, 1, 28, 28)


H = 32 * 7 * 7   # the representation: the convolutions' features


def trunk():
    return nn.Sequential(conv(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         conv(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())


# trunk()'s parameters under the names rlc gives `encoder enc(x) = trunk(x)`'s (conv weights are
# [out, in, k, k] on both sides)
ENC_NAMES = {"0.weight": "enc.trunk0.conv0.w", "0.bias": "enc.trunk0.conv0.b",
             "3.weight": "enc.trunk0.conv1.w", "3.bias": "enc.trunk0.conv1.b"}


def save_encoder(enc, path):
    """enc's parameters as a safetensors file of f32 tensors named as rlc names them."""
    header, blobs, offset = {}, [], 0
    for key, name in ENC_NAMES.items():
        blob = enc.state_dict()[key].detach().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(enc.state_dict()[key].shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_encoder(enc, path):
    """enc's parameters from an rlc parameter file (safetensors; other tensors in it are skipped)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    state = {}
    for key, name in ENC_NAMES.items():
        if name not in header or header[name]["dtype"] != "F32":
            raise SystemExit(f"{path}: no f32 tensor {name}")
        begin, end = header[name]["data_offsets"]
        state[key] = torch.from_numpy(np.frombuffer(data, "<f4", (end - begin) // 4, 8 + n + begin)
                                      .reshape(header[name]["shape"]).copy())
    enc.load_state_dict(state)


def nt_xent(z1, z2, tau=0.5):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T / tau).fill_diagonal_(-1e9)
    return F.cross_entropy(sim, torch.cat([torch.arange(n) + n, torch.arange(n)]))


def run_simclr_cnn(r):
    x, y, xt, yt = data()
    g = r.gen
    enc = trunk()
    proj = nn.Sequential(dense(H, 128), nn.ReLU(), dense(128, 64))
    test_acc = lambda name, model: evaluate(name, lambda i: {"acc": accuracy(model(xt[i]), yt[i])}, len(xt))
    if r.a.load_encoder:
        load_encoder(enc, r.a.load_encoder)
    else:
        r.train("contrast", [enc, proj], lambda i: nt_xent(proj(enc(view(x[i], g))), proj(enc(view(x[i], g)))),
                len(x), 256, 30, 1e-3)
    if r.a.save_encoder:
        save_encoder(enc, r.a.save_encoder)
    pretrained = {k: v.clone() for k, v in enc.state_dict().items()}
    for p in enc.parameters():   # freeze: [enc]
        p.requires_grad_(False)
    enc.eval()
    if r.wants("probe"):
        head = dense(H, 10)
        r.train("probe", [head], lambda i: F.cross_entropy(head(enc(x[i])), y[i]), len(x), 128, 3, 1e-2)
        test_acc("test", lambda v: head(enc(v)))
    if r.wants("pixels"):
        pix = nn.Sequential(nn.Flatten(), dense(784, 10))
        r.train("pixels", [pix], lambda i: F.cross_entropy(pix(x[i]), y[i]), len(x), 128, 10, 1e-3)
        test_acc("pixels_test", pix)
    # 1,000 labels: `limit: 1000`, 50 epochs (an explicit --epochs overrides it, as in rlc)
    n1k = min(1000, r.a.limit)
    probe_head = dense(H, 10)
    if r.wants("probe_1k"):
        r.train("probe_1k", [probe_head], lambda i: F.cross_entropy(probe_head(enc(x[i])), y[i]),
                n1k, 64, 50, 1e-2)
        test_acc("probe_1k_test", lambda v: probe_head(enc(v)))
    if r.wants("tune_1k"):   # LP-FT: the pre-trained encoder and the probe above, Adam 1e-4
        tuned = trunk()
        tuned.load_state_dict(pretrained)
        r.train("tune_1k", [tuned, probe_head], lambda i: F.cross_entropy(probe_head(tuned(x[i])), y[i]),
                n1k, 64, 50, 1e-4)
        test_acc("tune_1k_test", lambda v: probe_head(tuned(v)))
    if r.wants("scratch_1k"):   # Adam 3e-3: the best of 3e-4, 1e-3, 3e-3 in rlc's runs
        scratch, head = trunk(), dense(H, 10)
        r.train("scratch_1k", [scratch, head], lambda i: F.cross_entropy(head(scratch(x[i])), y[i]),
                n1k, 64, 50, 3e-3)
        test_acc("scratch_1k_test", lambda v: head(scratch(v)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("example", choices=["cnn", "conv_denoising", "simclr_cnn"])
    ap.add_argument("--epochs", type=int, default=0)
    ap.add_argument("--limit", type=int, default=1 << 30)
    ap.add_argument("--stages", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-encoder", default="")
    ap.add_argument("--load-encoder", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    {"cnn": run_cnn, "conv_denoising": run_conv_denoising, "simclr_cnn": run_simclr_cnn}[a.example](Run(a))
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
