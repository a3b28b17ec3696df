"""Retrieval: dense hits from FAISS, lexical hits from BM25, and their fusion into one ranking."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


QUESTION_STOPWORDS = frozenset("many much could would since also get tell".split())
"""Words of questions that carry no topic ("how many", "could I"), beyond the usual stop words."""


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    """bm25s's longer English list: with Lucene's 33 words, "how", "have" and "what" matched
    passages and outweighed the topic words (dev Hit@3 0.887 -> 0.925 with this list)."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | QUESTION_STOPWORDS


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed words without stop words. Letters and digits glued together by a PDF
    ("persons9", "Art.270") are split, so a footnote number never hides a word."""
    words = _TOKEN.findall(_LETTER_DIGIT.sub(" ", text.lower()))
    return _stemmer().stemWords([word for word in words if word not in _stopwords()])


@dataclass(frozen=True)
class Hit:
    passage: int
    score: float


class DenseIndex:
    """Normalized passage vectors in FAISS; inner product is cosine similarity."""

    def __init__(self, index):
        self.faiss = index

    @classmethod
    def build(cls, vectors: np.ndarray, index_type: str, hnsw_threshold: int) -> "DenseIndex":
        import faiss

        dimension = vectors.shape[1]
        if index_type == "hnsw" or (index_type == "auto" and len(vectors) >= hnsw_threshold):
            index = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 64
        else:
            index = faiss.IndexFlatIP(dimension)
        index.add(vectors)
        return cls(index)

    @classmethod
    def load(cls, path: Path) -> "DenseIndex":
        import faiss

        return cls(faiss.read_index(str(path)))

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.faiss, str(path))

    def __len__(self) -> int:
        return int(self.faiss.ntotal)

    def vector(self, position: int) -> np.ndarray:
        return self.faiss.reconstruct(position)

    def vectors(self) -> np.ndarray:
        """Every stored vector, row i for id i: a read-only view of FAISS's own storage (flat and
        HNSW indexes keep the vectors whole), so they are held in memory and on disk once."""
        import faiss

        storage = self.faiss if isinstance(self.faiss, faiss.IndexFlat) else faiss.downcast_index(self.faiss.storage)
        view = faiss.rev_swig_ptr(storage.get_xb(), len(self) * self.faiss.d).reshape(len(self), self.faiss.d)
        view.flags.writeable = False
        return view

    def search(self, query: np.ndarray, k: int) -> list[Hit]:
        scores, ids = self.faiss.search(query.reshape(1, -1), min(k, len(self)))
        return [Hit(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


class LexicalIndex:
    """BM25 (bm25s) over stemmed tokens."""

    def __init__(self, retriever):
        self.bm25 = retriever

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> "LexicalIndex":
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        retriever = bm25s.BM25()
        retriever.index(token_lists, show_progress=False)
        return cls(retriever)

    @classmethod
    def load(cls, path: Path) -> "LexicalIndex":
        import bm25s

        return cls(bm25s.BM25.load(str(path), show_progress=False))

    def save(self, path: Path) -> None:
        self.bm25.save(str(path), show_progress=False)

    def search(self, tokens: list[str], k: int) -> list[Hit]:
        """BM25 hits with a positive score; bm25s pads the top-k with score-0 passages that share
        no word with the question, and those would only add noise to the fusion."""
        known = [token for token in tokens if token in self.bm25.vocab_dict]
        if not known:
            return []
        size = int(self.bm25.scores["num_docs"])
        results, scores = self.bm25.retrieve([known], k=min(k, size), show_progress=False)
        return [Hit(int(i), float(s)) for i, s in zip(results[0], scores[0]) if s > 0]


def reciprocal_rank_fusion(rankings: list[list[Hit]], k: int = 60) -> list[Hit]:
    """Sum of 1/(k + rank) over the rankings, scaled to 0..1 (1 = first in every ranking)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.passage] = scores.get(hit.passage, 0.0) + 1.0 / (k + rank)
    best_possible = len(rankings) / (k + 1)
    return sorted((Hit(p, s / best_possible) for p, s in scores.items()), key=lambda h: (-h.score, h.passage))


def score_fusion(dense: list[Hit], lexical: list[Hit], dense_weight: float = 0.5, saturation: float = 5.0) -> list[Hit]:
    """Weighted sum of the cosine similarity and the saturated BM25 score `s / (s + saturation)`.

    Saturation keeps the scale absolute: a passage that shares only a weak word with the question
    stays low even when it is the best lexical match (scaling by the best BM25 score did not)."""
    scores: dict[int, float] = {hit.passage: dense_weight * max(hit.score, 0.0) for hit in dense}
    for hit in lexical:
        scores[hit.passage] = scores.get(hit.passage, 0.0) + (1 - dense_weight) * hit.score / (hit.score + saturation)
    return sorted((Hit(p, s) for p, s in scores.items()), key=lambda h: (-h.score, h.passage))
