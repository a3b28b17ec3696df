"""The two scoring rules that retrieval, fusion and the ranker's features share, written once."""

from __future__ import annotations

import numpy as np


def saturate(bm25: float, saturation: float) -> float:
    """A BM25 score on an absolute 0..1 scale, `s / (s + saturation)`: a passage that shares only
    a weak word with the question stays low even when it is the best lexical match (scaling by the
    best BM25 score did not)."""
    return bm25 / (bm25 + saturation)


def best_sentence(sentences: np.ndarray, owner: np.ndarray, passage: np.ndarray) -> np.ndarray:
    """Each passage's best sentence score (`owner`: the passage position of each sentence); the
    passage's own score where none of its sentences is among `sentences`."""
    best = np.full(len(passage), -np.inf, dtype=sentences.dtype)
    if len(sentences):
        np.maximum.at(best, owner, sentences)
    return np.where(np.isfinite(best), best, passage)


def passage_or_best_sentence(passage: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Each passage's dense score: its own, or its best sentence's (`best_sentence`) when that is
    higher. One precise sentence inside a long passage should not be drowned by the rest (dense
    Hit@1 on dev rose from 0.51 to 0.64 with this)."""
    return np.maximum(passage, best)
