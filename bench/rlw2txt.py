#!/usr/bin/python3
"""Writes one table of an rlc parameter file (safetensors) in word2vec text format.
usage: rlw2txt.py PARAMS.rlw TENSOR VOCAB OUT.txt
VOCAB has one word per line in id order (what `save` writes beside the parameters); row i of
TENSOR (a [vocab, dim] float32 table) is the vector of word i.
"""
import json
import struct
import sys

import numpy as np


def read_tensor(path, name):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        if name not in header:
            raise SystemExit(f"{path}: no tensor '{name}' (has: {', '.join(k for k in header if k != '__metadata__')})")
        info = header[name]
        if info["dtype"] != "F32" or len(info["shape"]) != 2:
            raise SystemExit(f"{path}: '{name}' is {info['dtype']} {info['shape']}, not a 2-D F32 table")
        begin, end = info["data_offsets"]
        f.seek(8 + n + begin)
        return np.frombuffer(f.read(end - begin), dtype="<f4").reshape(info["shape"])


def main():
    if len(sys.argv) != 5:
        raise SystemExit("usage: rlw2txt.py PARAMS.rlw TENSOR VOCAB OUT.txt")
    table = read_tensor(sys.argv[1], sys.argv[2])
    with open(sys.argv[3], encoding="utf-8") as f:
        words = f.read().split("\n")[:table.shape[0]]
    if len(words) != table.shape[0]:
        raise SystemExit(f"{sys.argv[3]}: {len(words)} words for a table of {table.shape[0]} rows")
    with open(sys.argv[4], "w", encoding="utf-8") as f:
        f.write(f"{table.shape[0]} {table.shape[1]}\n")
        for w, v in zip(words, table):
            f.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")


if __name__ == "__main__":
    main()
