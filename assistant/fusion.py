"""The fusion of dense and lexical hits into one ranking."""

from __future__ import annotations

from .backends.base import Hit


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
