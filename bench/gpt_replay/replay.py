#!/usr/bin/python3
"""examples/torch_gpt.py's GPT from rlc's initial parameters, on rlc's batches in rlc's order.

    replay.py INIT.rlw ORDER [--steps 600] [--threads 1]

INIT.rlw: gpt.rl's parameters before its first step (run.sh writes them); ORDER: the first
epoch's window order of the pretrain stage (order.c). Prints `STEP LOSS` for every step, then the
validation cross-entropy, to compare with `rlc run examples/gpt.rl --log-steps` of the same seed.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
import torch_gpt as tg  # noqa: E402


def read_rlw(path):
    """The f32 tensors of a safetensors file, by name."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header, base = json.loads(data[8:8 + n]), 8 + n
    return {k: torch.frombuffer(bytearray(data[base + v["data_offsets"][0]:base + v["data_offsets"][1]]),
                                dtype=torch.float32).reshape(v["shape"])
            for k, v in header.items() if k != "__metadata__"}


def load_gpt(model, p):
    """rlc's names and [in, out] weights into torch_gpt.GPT's modules ([out, in])."""
    def linear(layer, w, b):
        layer.weight.copy_(p[w].T)
        layer.bias.copy_(p[b])

    def norm(layer, name):
        layer.weight.copy_(p[name + ".g"])
        layer.bias.copy_(p[name + ".b"])

    with torch.no_grad():
        model.wte.copy_(p["gpt.wte"])
        model.wpe.copy_(p["gpt.wpe"])
        for i, blk in enumerate(model.blocks):
            pre = f"gpt.transformer_block{i}."
            norm(blk.ln1, pre + "layer_norm0")
            norm(blk.ln2, pre + "layer_norm1")
            for name in "qkvo":
                linear(getattr(blk, name), pre + "mha0.w" + name, pre + "mha0.b" + name)
            linear(blk.up, pre + "dense0.w", pre + "dense0.b")
            linear(blk.down, pre + "dense1.w", pre + "dense1.b")
        norm(model.ln, "gpt.layer_norm0")
        linear(model.out, "gpt.dense0.w", "gpt.dense0.b")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("init")
    ap.add_argument("order")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(os.environ.get("RL_DATA_PATH", "data").split(":")[0], "brown"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tokens, vocab = tg.read_corpus(a.data)
    train, val = tg.windows(tokens, 0, 0.9), tg.windows(tokens, 0.9, 1)
    with open(a.order) as f:
        order = [int(line) for line in f]
    if len(order) != len(train) or 32 * a.steps > len(order):
        sys.exit(f"replay.py: {a.order} orders {len(order)} windows, the training part has {len(train)}; "
                 f"{a.steps} steps need {32 * a.steps} of one epoch")
    model = tg.GPT(vocab)
    load_gpt(model, read_rlw(a.init))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)

    def rate(step):
        if step < 60:
            return (step + 1) / 60
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - 60) / max(1, a.steps - 60)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, rate)
    for step in range(a.steps):
        batch = train[order[32 * step:32 * step + 32]]
        loss = F.cross_entropy(model(batch[:, :tg.T]).reshape(-1, vocab), batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        print(f"{step} {loss.item():.9g}", flush=True)
    model.eval()
    with torch.no_grad():
        total = sum(F.cross_entropy(model(val[i:i + 64, :tg.T]).reshape(-1, vocab), val[i:i + 64, 1:].reshape(-1),
                                    reduction="sum").item() for i in range(0, len(val), 64))
    print(f"val_xent {total / (len(val) * tg.T):.4f}", flush=True)


if __name__ == "__main__":
    main()
