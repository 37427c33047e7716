#!/usr/bin/python3
"""Compares the parameters of two rlc parameter files (safetensors) tensor by tensor.
usage: compare.py A.rlw B.rlw TOLERANCE
Prints the largest relative difference over the parameter and state tensors (not the
optimizer's __opt__ tensors): per tensor, max |a - b| over its elements divided by max |a|, the
tensor's scale (an element near zero would otherwise make rounding look large); exits 1 when
it is over TOLERANCE, when a tensor is missing from either file, or when a value is not finite.
"""
import array
import json
import math
import struct
import sys


def tensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or name.startswith("__opt__.") or info["dtype"] != "F32":
            continue
        begin, end = info["data_offsets"]
        values = array.array("f")
        values.frombytes(data[begin:end])
        if sys.byteorder != "little":
            values.byteswap()
        out[name] = values
    return out


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: compare.py A.rlw B.rlw TOLERANCE")
    a, b, tol = tensors(sys.argv[1]), tensors(sys.argv[2]), float(sys.argv[3])
    if set(a) != set(b):
        raise SystemExit(f"tensors differ: {sorted(set(a) ^ set(b))}")
    worst, where = 0.0, ""
    for name in sorted(a):
        if len(a[name]) != len(b[name]):
            raise SystemExit(f"{name}: {len(a[name])} values against {len(b[name])}")
        scale, diff, at = 0.0, 0.0, 0
        for i, (x, y) in enumerate(zip(a[name], b[name])):
            if not (math.isfinite(x) and math.isfinite(y)):
                raise SystemExit(f"{name}[{i}]: {x} and {y}")
            scale = max(scale, abs(x))
            if abs(x - y) > diff:
                diff, at = abs(x - y), i
        d = diff / scale if scale > 0 else diff
        if d > worst:
            worst, where = d, f"{name}[{at}] ({a[name][at]!r} against {b[name][at]!r}, scale {scale:.3g})"
    print(f"max relative difference {worst:.3g}" + (f" at {where}" if where else ""))
    sys.exit(0 if worst <= tol else 1)


main()
