"""std.nn's transformer_block in PyTorch, for the references of gpt.rl, bert.rl and clip.rl."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from torch_reference import dense


class Block(nn.Module):
    """transformer_block(x, heads, hidden, causal): pre-norm, q/k/v/out projections, tanh-GELU MLP;
    with `causal` set to the sequence length, a position attends only to itself and earlier ones."""

    def __init__(self, width, heads, hidden, causal=0):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.q, self.k, self.v, self.o = (dense(width, width) for _ in range(4))
        self.up, self.down = dense(width, hidden), dense(hidden, width)
        self.register_buffer("mask", torch.tril(torch.ones(causal, causal)) if causal else None)

    def forward(self, x):
        n, t, d = x.shape
        h = self.ln1(x)
        q, k, v = (f(h).view(n, t, self.heads, d // self.heads).transpose(1, 2) for f in (self.q, self.k, self.v))
        s = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        if self.mask is not None:
            s = s - 1e9 * (1 - self.mask)
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(n, t, d)
        x = x + self.o(a)
        return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))
