"""The retrieval stages, one per signal: dense hits in the question's vector spaces, and BM25 hits
of its tokens, each searched inside the backend (filters narrow the search, never the top k)."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from assistant.query.ranking.features import latent_scores
from assistant.query.scores import best_sentence, passage_or_best_sentence
from assistant.query.state import Query, Resources
from assistant.store.backends.base import Hit, in_rank_order
from assistant.store.index import Index


def dense_hits(index: Index, space: str, vector: np.ndarray, candidates: int,
               doc_ids: Collection[str] | None = None) -> list[Hit]:
    """Passages nearest to `vector` in `space` by their own cosine or their best sentence's
    (`scores.passage_or_best_sentence`), on the model's own scale, best first."""
    backend = index.backend
    passages = backend.search_dense(space, "passage", vector, candidates, doc_ids)
    sentences = backend.search_dense(space, "sentence", vector, candidates, doc_ids)
    owners = [int(index.sentence_passage[hit.passage]) for hit in sentences]
    rows = list(dict.fromkeys([hit.passage for hit in passages] + owners))
    position = {row: i for i, row in enumerate(rows)}
    own = np.full(len(rows), -1.0)
    own[[position[hit.passage] for hit in passages]] = [hit.score for hit in passages]
    in_sentences = np.array([hit.score for hit in sentences], dtype=np.float64)
    best = passage_or_best_sentence(own, best_sentence(in_sentences, np.array([position[row] for row in owners],
                                                                              dtype=np.int64), own))
    return sorted((Hit(row, float(score)) for row, score in zip(rows, best, strict=True)), key=lambda h: (-h.score, h.passage))


def candidates(query: Query, resources: Resources) -> int:
    """How many hits each search returns."""
    return max(resources.settings.candidates, query.k)


class DenseRetrieval:
    """Dense hits of every space the question was encoded in, each mapped onto the calibrated
    scale; a passage found in several spaces keeps its best score."""

    name = "dense"

    def __call__(self, query: Query, resources: Resources) -> Query:
        best: dict[int, float] = {}
        for space, vector in query.vectors.items():
            for hit in dense_hits(query.index, space, vector, candidates(query, resources), query.allowed):
                score = float(resources.calibration.cosine(space, hit.score))
                best[hit.passage] = max(best.get(hit.passage, -np.inf), score)
        query.dense = sorted((Hit(p, s) for p, s in best.items()), key=lambda h: (-h.score, h.passage))
        return query


class LatentRetrieval:
    """Passages by the cosine of their latent terms with the question's (`embedding/sparse.py`),
    over the spaces that have them; a passage found in several keeps its best score. The terms
    match words and names across languages, which the cosine of whole texts blurs."""

    name = "latent terms"

    def __call__(self, query: Query, resources: Resources) -> Query:
        if not query.terms:
            return query
        index, count = query.index, candidates(query, resources)
        rows = None if query.allowed is None else np.array(
            [row for row, doc_id in enumerate(index.passage_doc_ids) if doc_id in query.allowed], dtype=np.int64)
        best: dict[int, float] = {}
        for space, terms in query.terms.items():
            found = latent_scores(index, space, terms, rows)
            numbers = np.arange(len(found)) if rows is None else rows
            for position in np.argsort(-found, kind="stable")[:count]:
                if found[position] > 0:
                    row = int(numbers[position])
                    best[row] = max(best.get(row, 0.0), float(found[position]))
        query.latent = in_rank_order([Hit(row, score) for row, score in best.items()], count)
        return query


class LexicalRetrieval:
    """BM25 hits of the question's tokens with its expansions, and of the question as asked."""

    name = "lexical"

    def __call__(self, query: Query, resources: Resources) -> Query:
        backend, count = query.index.backend, candidates(query, resources)
        query.lexical = backend.search_lexical(query.tokens, count, query.allowed)
        query.asked_lexical = backend.search_lexical(query.asked_tokens, count, query.allowed) \
            if query.expansions else query.lexical
        return query
