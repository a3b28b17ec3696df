"""Lexical tokens of text, and the fusion of dense and lexical hits into one ranking."""

from __future__ import annotations

import re
from functools import lru_cache

from .backends.base import Hit

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
