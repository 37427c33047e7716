"""The Brown corpus as rlc's text(..., lowercase = true, min_count = N, tags = true) numbers it, for
the PyTorch references (torch_gpt.py, torch_bert.py): the files of brown/ in name order, words split
on white space, a word/TAG token keeping `word` (lowercased) and `TAG` (as written, after the last
'/'); words seen fewer than N times in the whole corpus are <unk> (id 0), the others ids 1.. by
falling count, ties by bytes; tags ids 1.. the same way (0: no tag)."""
import os
from collections import Counter

import torch


def ranked(counts, keep):
    """Ids 1.. for the kept entries by falling count, ties by bytes."""
    kept = sorted((w for w, c in counts.items() if keep(c)), key=lambda w: (-counts[w], w))
    return {w: i + 1 for i, w in enumerate(kept)}


def read_corpus(folder, min_count):
    """Word ids, tag ids, and the vocabulary and tag-set sizes (0 included)."""
    words, tags = [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            for tok in f.read().split():
                slash = tok.rfind(b"/")
                tags.append(tok[slash + 1:] if 0 < slash < len(tok) - 1 else None)
                words.append((tok[:slash] if slash > 0 else tok).lower())
    word_ids = ranked(Counter(words), lambda c: c >= min_count)
    tag_ids = ranked(Counter(t for t in tags if t is not None), lambda c: True)
    return (torch.tensor([word_ids.get(w, 0) for w in words], dtype=torch.int64),
            torch.tensor([tag_ids[t] if t is not None else 0 for t in tags], dtype=torch.int64),
            len(word_ids) + 1, len(tag_ids) + 1)
