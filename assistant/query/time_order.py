"""Time as stages: which sources answer and which is newest, then the order that puts the current
state first (the rules are in `temporal.py`)."""

from __future__ import annotations

from assistant.query.state import Query, Resources
from assistant.query.temporal import reorder, time_focus, view_time
from assistant.settings import Settings


class AnsweringSources:
    """Which sources answer the question and which of them is newest (`view_time`), from the first
    ranking's scores: what the ranker's recency feature, the recency order and the results' marks
    read."""

    name = "answering sources"

    def __call__(self, query: Query, resources: Resources) -> Query:
        index = query.index
        focus = time_focus(query.text, query.language, index.newest_year)
        query.time = view_time(query.ranking, index.passage_doc_ids, index.years, focus=focus,
                               floor=resources.calibration.threshold(query.language),
                               margin=resources.settings.answering_margin,
                               same_period=resources.settings.recency_same_period_years,
                               present_slack=resources.settings.present_answering_slack)
        return query


class RecencyOrder:
    """The ranking with time taken into account (`reorder`): for a question about now, answering
    passages gain by their source's recency (on the learned ranker's scale when it ordered them),
    and the newest answering source is brought into the top results."""

    name = "order by time"

    def __call__(self, query: Query, resources: Resources) -> Query:
        settings = resources.settings
        floor = resources.calibration.threshold(query.language)
        weight = settings.recency_ranker_weight if query.features is not None else settings.recency_present_weight
        eligible = {passage for passage, score in query.relevance.items() if score >= floor}
        query.ranking = reorder(query.ranking, query.time, query.index.passage_doc_ids, present_weight=weight,
                                newest_in_top=settings.newest_in_top, eligible=eligible,
                                newest_in_top_present=settings.newest_in_top_present)
        return query

    @staticmethod
    def applies(settings: Settings) -> bool:
        """Whether the settings ask for any time ordering at all ("no time ordering" asks none)."""
        return bool(settings.recency_present_weight or settings.recency_ranker_weight or settings.newest_in_top
                    or settings.newest_in_top_present)
