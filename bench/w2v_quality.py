#!/usr/bin/python3
"""Vector quality for workload 4: tag-neighbour agreement, a check held out from training.

Training sees the Brown corpus without its part-of-speech tags; this check uses only the tags.
Each of the 1,000 most frequent purely alphabetic words gets its majority coarse tag over the
corpus (the tag's first two letters after dropping the `-tl`/`-hl`/`-nc` style suffixes and the
`fw-` prefix: nn/nns -> nn, vbd/vbg/vbz -> vb, ...). For each of those words in the vector file,
its 10 nearest neighbours by cosine among the others are found, and the score is the fraction
of neighbours whose majority tag is the word's own. `chance` is that fraction for neighbours
drawn at random from the same words. This is our own check, derived from the corpus here; it is
no published benchmark. Prints `agree10=A chance=C words=N`.
Usage: w2v_quality.py VECTORS.txt [VECTORS.txt ...] (word2vec text format).
"""
import collections
import sys

import numpy as np

import brown

TOP, K = 1000, 10


def coarse(tag):
    tag = tag[3:] if tag.startswith("fw-") else tag
    return tag.split("-")[0].split("+")[0][:2]


def majority_tags():
    counts = collections.Counter(w for w, _ in brown.tagged())
    tags = collections.defaultdict(collections.Counter)
    for w, t in brown.tagged():
        if w.isalpha():
            tags[w][coarse(t)] += 1
    top = [w for w, _ in counts.most_common() if w.isalpha()][:TOP]
    return {w: tags[w].most_common(1)[0][0] for w in top}


def read_vectors(path):
    vecs = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        f.readline()
        for line in f:
            parts = line.rstrip().split(" ")
            vecs[parts[0]] = np.array(parts[1:], dtype=np.float32)
    return vecs


def score(path, tag_of):
    vecs = read_vectors(path)
    words = [w for w in tag_of if w in vecs]
    if len(words) <= K:
        raise SystemExit(f"{path}: only {len(words)} of the check's words have vectors")
    m = np.stack([vecs[w] for w in words])
    m /= np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    sim = m @ m.T
    np.fill_diagonal(sim, -np.inf)
    near = np.argsort(-sim, axis=1)[:, :K]
    tags = np.array([tag_of[w] for w in words])
    agree = float((tags[near] == tags[:, None]).mean())
    share = np.array(list(collections.Counter(tags).values()), dtype=np.float64)
    n = len(words)
    chance = float(((share * (share - 1)).sum()) / (n * (n - 1)))
    return agree, chance, n


def main():
    if len(sys.argv) < 2:
        raise SystemExit("usage: w2v_quality.py VECTORS.txt [VECTORS.txt ...]")
    tag_of = majority_tags()
    for path in sys.argv[1:]:
        agree, chance, n = score(path, tag_of)
        print(f"agree10={agree:.4f} chance={chance:.4f} words={n} file={path}", flush=True)


if __name__ == "__main__":
    main()
