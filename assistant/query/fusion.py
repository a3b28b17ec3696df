"""Fusing dense and lexical hits into one ranking, and the stages that choose the first order.

`ScoreFusion` always runs: its fused scores are the evidence abstention judges, whatever order
is shown. Then one order stage (`factory.py` picks it from the `retrieval` and `fusion` settings)
sets the ranking: fused scores (the product), reciprocal-rank fusion, dense or lexical alone.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from assistant.query.scores import saturate
from assistant.query.state import Query, Resources
from assistant.store.backends.base import Hit


def reciprocal_rank_fusion(rankings: list[list[Hit]], k: int = 60) -> list[Hit]:
    """Sum of 1/(k + rank) over the rankings, scaled to 0..1 (1 = first in every ranking)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.passage] = scores.get(hit.passage, 0.0) + 1.0 / (k + rank)
    best_possible = len(rankings) / (k + 1)
    return sorted((Hit(p, s / best_possible) for p, s in scores.items()), key=lambda h: (-h.score, h.passage))


def score_fusion(dense: list[Hit], lexical: list[Hit], dense_weight: float = 0.5, saturation: float = 5.0,
                 foreign: Collection[int] = frozenset(), latent: Sequence[Hit] = (), latent_weight: float = 0.0) -> list[Hit]:
    """Weighted sum of the cosine similarity and the saturated BM25 score (`scores.saturate`), plus
    `latent_weight` times the latent-terms cosine (a passage found by that alone joins the list).

    A `foreign` passage (written in another language than the question) cannot share the
    question's words, so a missing lexical score says nothing of it: its lexical part is its dense
    score, or its BM25 through the glossary when that is higher."""
    lexical_part = {hit.passage: saturate(hit.score, saturation) for hit in lexical}
    scores: dict[int, float] = {}
    for hit in dense:
        dense_part = max(hit.score, 0.0)
        imputed = max(dense_part, lexical_part.get(hit.passage, 0.0)) if hit.passage in foreign else None
        scores[hit.passage] = dense_weight * dense_part + (1 - dense_weight) * (
            imputed if imputed is not None else lexical_part.get(hit.passage, 0.0))
    for passage, part in lexical_part.items():
        if passage not in scores:
            scores[passage] = (1 - dense_weight) * part
    for hit in latent:
        scores[hit.passage] = scores.get(hit.passage, 0.0) + latent_weight * hit.score
    return sorted((Hit(p, s) for p, s in scores.items()), key=lambda h: (-h.score, h.passage))


def foreign_passages(query: Query) -> frozenset[int]:
    """The dense hits written in another language than the question, when they compete with
    passages in the question's language; when every document is foreign to the question (a
    Russian question, English documents) they are compared among equals, and the glossary's
    matches keep their weight (on dev, Kazakh Hit@5 0.571 imputing, 0.714 not)."""
    index = query.index
    if query.language not in index.languages:
        return frozenset()
    return frozenset(hit.passage for hit in query.dense
                     if index.documents[index.passage_doc_ids[hit.passage]].language != query.language)


class ScoreFusion:
    """Fused scores of the dense and lexical hits, and the evidence: the best fused score of the
    question as asked. An expansion helps find a passage, it must not make an unanswerable question
    look answered; but for a Russian or Kazakh question over English documents the glossary
    translates, so there (`glossary_is_evidence`) its words count."""

    name = "fuse"

    def __call__(self, query: Query, resources: Resources) -> Query:
        settings = resources.settings
        foreign = foreign_passages(query) if settings.cross_language_lexical == "impute" else frozenset()
        query.fused = score_fusion(query.dense, query.lexical, settings.fusion_dense_weight, settings.lexical_saturation,
                                   foreign, query.latent, settings.fusion_latent_weight)
        evidence = query.fused
        if query.expansions and query.language not in settings.glossary_is_evidence:
            evidence = score_fusion(query.dense, query.asked_lexical, settings.fusion_dense_weight,
                                    settings.lexical_saturation, foreign, query.latent, settings.fusion_latent_weight)
        query.evidence = evidence[0].score if evidence else 0.0
        return query


@dataclass(frozen=True)
class Order:
    """The stage that sets the first ranking, from one of the lists the stages before it made; its
    scores are the relevance (the evidence scale) and, until a ranker reorders, what results show."""

    name: str
    pick: Callable[[Query, Resources], list[Hit]]

    def __call__(self, query: Query, resources: Resources) -> Query:
        query.ranking = self.pick(query, resources)
        query.relevance = {hit.passage: hit.score for hit in query.ranking}
        query.shown = dict(query.relevance)
        return query


FUSED_ORDER = Order("order by fused score", lambda query, _: query.fused)
"""The product's order."""
RANK_FUSION_ORDER = Order("order by reciprocal rank fusion",
                          lambda query, resources: reciprocal_rank_fusion([query.dense, query.lexical],
                                                                          resources.settings.rrf_k))
"""`fusion = "rrf"`."""
DENSE_ORDER = Order("order by dense score", lambda query, _: query.dense)
"""`retrieval = "dense"`: an ablation."""
LEXICAL_ORDER = Order("order by BM25", lambda query, _: query.lexical)
"""`retrieval = "lexical"`: an ablation."""
