"""The Brown corpus as rlc's text() source reads it: every `word/TAG` token keeps `word`,
lowercased; one file is one stream of words (a "sentence" for gensim; a Brown file has about
2,300 words, under gensim's 10,000-word limit). Tags are kept apart for the quality check only.
"""
import os


def corpus_dir():
    """data/brown beside bench/, else the first RL_DATA_PATH folder that has brown/ca01."""
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = [os.path.join(here, "..", "data")] + os.environ.get("RL_DATA_PATH", "").split(":")
    for d in dirs:
        if d and os.path.isfile(os.path.join(d, "brown", "ca01")):
            return os.path.join(d, "brown")
    raise SystemExit("brown.py: no Brown corpus (data/brown/ca01 or RL_DATA_PATH/brown/ca01); "
                     "run scripts/setup.sh")


def files(limit=None):
    d = corpus_dir()
    names = sorted(n for n in os.listdir(d) if not n.startswith("."))
    return [os.path.join(d, n) for n in names[:limit]]


def split_token(tok):
    word, _, tag = tok.rpartition("/")
    return (word, tag) if word else (tok, "")


def documents(limit=None):
    """One list of lowercased words per file."""
    docs = []
    for path in files(limit):
        with open(path, encoding="utf-8", errors="replace") as f:
            docs.append([split_token(t)[0].lower() for t in f.read().split()])
    return docs


def tagged(limit=None):
    """(lowercased word, tag) for every token of the corpus."""
    out = []
    for path in files(limit):
        with open(path, encoding="utf-8", errors="replace") as f:
            out.extend((w.lower(), t) for w, t in map(split_token, f.read().split()))
    return out
