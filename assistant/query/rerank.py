"""The learned ranker as a stage: the best `rerank_depth` candidates reordered by its chance that
each answers the question (features in `ranking/features.py`, weights in `ranking/ranker.json`)."""

from __future__ import annotations

import numpy as np

from assistant.query.ranking import compute as compute_features
from assistant.query.state import Query, Resources
from assistant.store.backends.base import Hit


class Rerank:
    """Reorders the head of the ranking when a ranker is loaded (`ranker = "learned"`); without
    its file the fusion order stands."""

    name = "rerank"

    def __call__(self, query: Query, resources: Resources) -> Query:
        ranker, settings = resources.ranker, resources.settings
        if ranker is None or not query.ranking:
            return query
        head = query.ranking[: settings.rerank_depth]
        query.features = features = compute_features(query.index, resources.calibration, query,
                                                     [hit.passage for hit in head], settings.lexical_saturation)
        query.ranker_scores = ranker.score(features.matrix)
        chances = 1.0 / (1.0 + np.exp(-query.ranker_scores))
        reranked = sorted((Hit(int(row), float(chance)) for row, chance in zip(features.rows, chances, strict=True)),
                          key=lambda h: (-h.score, h.passage))
        query.ranking = reranked + query.ranking[settings.rerank_depth :]
        query.shown = {hit.passage: hit.score for hit in query.ranking}
        return query
