"""The fusion of dense and lexical hits into one ranking."""

from __future__ import annotations

from collections.abc import Collection

from .backends.base import Hit


def reciprocal_rank_fusion(rankings: list[list[Hit]], k: int = 60) -> list[Hit]:
    """Sum of 1/(k + rank) over the rankings, scaled to 0..1 (1 = first in every ranking)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.passage] = scores.get(hit.passage, 0.0) + 1.0 / (k + rank)
    best_possible = len(rankings) / (k + 1)
    return sorted((Hit(p, s / best_possible) for p, s in scores.items()), key=lambda h: (-h.score, h.passage))


def score_fusion(dense: list[Hit], lexical: list[Hit], dense_weight: float = 0.5, saturation: float = 5.0,
                 foreign: Collection[int] = frozenset()) -> list[Hit]:
    """Weighted sum of the cosine similarity and the saturated BM25 score `s / (s + saturation)`.

    Saturation keeps the scale absolute: a passage that shares only a weak word with the question
    stays low even when it is the best lexical match (scaling by the best BM25 score did not).

    A `foreign` passage (written in another language than the question) cannot share the
    question's words, so a missing lexical score says nothing of it: its lexical part is its dense
    score, or its BM25 through the glossary when that is higher."""
    lexical_part = {hit.passage: hit.score / (hit.score + saturation) for hit in lexical}
    scores: dict[int, float] = {}
    for hit in dense:
        dense_part = max(hit.score, 0.0)
        imputed = max(dense_part, lexical_part.get(hit.passage, 0.0)) if hit.passage in foreign else None
        scores[hit.passage] = dense_weight * dense_part + (1 - dense_weight) * (
            imputed if imputed is not None else lexical_part.get(hit.passage, 0.0))
    for passage, part in lexical_part.items():
        if passage not in scores:
            scores[passage] = (1 - dense_weight) * part
    return sorted((Hit(p, s) for p, s in scores.items()), key=lambda h: (-h.score, h.passage))
