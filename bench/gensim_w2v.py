#!/usr/bin/python3
"""Workload 4's first peer: gensim's Word2Vec with the settings of sgns.rl.

Skip-gram (sg=1), negative sampling (hs=0, negative=5), vector_size 100, window 5, min_count 5,
sample 1e-3, one epoch, alpha 0.025 decaying linearly to 0, workers = --threads. Reading the
corpus and building the vocabulary are data loading and not timed; train() is. Prints one line:
`words=N seconds=S words_per_s=X`, where N counts the in-vocabulary words of the epoch (before
subsampling), the count rlc's trainer reports against. --out writes the vectors in word2vec text
format for w2v_quality.py.
"""
import argparse
import logging
import time

from gensim.models import Word2Vec

import brown


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--files", type=int, default=None, help="use only the first N corpus files")
    ap.add_argument("--out", default=None, help="word2vec text file to write")
    a = ap.parse_args()
    logging.disable(logging.WARNING)
    docs = brown.documents(a.files)
    model = Word2Vec(vector_size=100, window=5, min_count=5, sample=1e-3, sg=1, hs=0, negative=5,
                     alpha=0.025, min_alpha=0.0, epochs=1, workers=a.threads, seed=0)
    model.build_vocab(docs)
    words = sum(model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key)
    t0 = time.perf_counter()
    model.train(docs, total_examples=model.corpus_count, epochs=1)
    dt = time.perf_counter() - t0
    if a.out:
        model.wv.save_word2vec_format(a.out)
    print(f"words={words} seconds={dt:.3f} words_per_s={words / dt:.1f}", flush=True)


if __name__ == "__main__":
    main()
