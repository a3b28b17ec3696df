"""The last stages: whether the collection answers the question at all (`Abstain`), and the
answer itself (`Compose`): the top passages, each highlighted and cited, near-duplicates from
other documents folded in as "also in", the time marks, span and timeline, and how recent the
sources behind it are (`as_of`, with a note when that is more than `data_age_years` ago)."""

from __future__ import annotations

from datetime import date

import numpy as np

from assistant.answer.abstain import abstain_reason, abstain_reason_no_documents, judged_reason, partly_answered
from assistant.answer.citation import citation_for
from assistant.answer.highlight import choose_highlight, highlight_vector, sentence_scores
from assistant.answer.model import AbstainReason, Answer, Result
from assistant.answer.timeline import as_of, data_age_note, sources_span, timeline
from assistant.embedding import ENGLISH, MULTILINGUAL
from assistant.query.answerability import compute as answerability_features
from assistant.query.answerability.features import part_missing
from assistant.query.state import Query, Resources


class Abstain:
    """The reason the collection does not answer (None when it does): no document passes the
    filters, the question names a place or year no document mentions, or the evidence is below the
    calibrated floor of the question's language. Also what the question asks for (a penalty, a
    price...) that no passage searched gives, which the answer names."""

    name = "abstain"

    def __call__(self, query: Query, resources: Resources) -> Query:
        if query.allowed is not None and not query.allowed:
            query.abstain_reason = abstain_reason_no_documents()
            return query
        unknown = resources.coverage.unknown_terms(query.text, query.language)
        query.abstain_reason = self.judge(query, resources, unknown)
        return query

    def judge(self, query: Query, resources: Resources, unknown: list[str]) -> AbstainReason | None:
        """The refusal's reason, or None; sets `query.missing`."""
        query.missing = part_missing(query, resources.settings.part_search_depth)
        return abstain_reason(evidence=query.evidence, unknown_terms=unknown,
                              min_evidence=resources.calibration.threshold(query.language))


class AbstainByModel(Abstain):
    """`Abstain` with the answerability model in place of the evidence floor (`abstention =
    "model"`): the question is refused when the model's chance that the collection answers it is
    below the model's threshold. Without the model's file, the floor decides."""

    name = "abstain (answerability model)"

    def judge(self, query: Query, resources: Resources, unknown: list[str]) -> AbstainReason | None:
        model = resources.answerability
        if model is None:
            return super().judge(query, resources, unknown)
        values, query.missing = answerability_features(query, resources.calibration,
                                                       resources.settings.part_search_depth,
                                                       resources.coverage.places_named(query.text, query.language))
        query.answerability = model.chance(values)
        return judged_reason(query.answerability, model.threshold, unknown, query.missing)


class Compose:
    """The answer: the top `k` passages, each highlighted in the question's first space, or in the
    multilingual one for a passage in another language. A passage from another document whose
    answer sentence says what a better-ranked result's says (cosine of the highlighted sentences in
    the English space at least `duplicate_similarity`) is folded into it as "also in", so the list
    covers more ground. A refusal says nothing of newer or older answers."""

    name = "compose"

    def __call__(self, query: Query, resources: Resources) -> Query:
        settings, reason = resources.settings, query.abstain_reason
        results = self.results(query, resources)
        if reason:
            for result in results:
                result.recency = None
        elif query.time.focus == "present":
            for result in results:
                if result.recency == "older":
                    result.state_as_of = result.citation.year or result.citation.year_estimate
        newest_year = None if reason else as_of(query.time.as_of, results)
        query.answer = Answer(
            question=query.question,
            language=query.language,
            read_as=query.text if query.text != query.question else None,
            abstained=reason is not None,
            abstain_reason=reason,
            # A refusal never says the sources disagree in time: there is no answer to date.
            sources_span=None if reason else sources_span(results, settings.span_min_years),
            time_focus=query.time.focus,
            timeline=None if reason else timeline(results, settings.span_min_years),
            as_of=newest_year,
            data_age_note=data_age_note(newest_year, settings.data_age_years, date.today().year),
            answerability=None if query.answerability is None else round(query.answerability, 4),
            missing=query.missing.name if query.missing else None,
            missing_note=partly_answered(query.missing) if query.missing and not reason else None,
            results=results,
        )
        return query

    @staticmethod
    def results(query: Query, resources: Resources) -> list[Result]:
        index = query.index
        question_tokens = set(query.tokens)
        kept: list[tuple[Result, np.ndarray]] = []
        for hit in query.ranking:
            if len(kept) == query.k:
                break
            passage = index.passages[hit.passage]
            space = query.spaces[0]
            if index.documents[passage.doc_id].language != query.language and MULTILINGUAL in query.vectors:
                space = MULTILINGUAL
            rows = index.sentence_rows[hit.passage]
            english = index.backend.vectors(ENGLISH, "sentence", rows)
            preferences = _ranker_sentence_scores(query, resources, hit.passage)
            if preferences is None:
                in_space = english if space == ENGLISH else index.backend.vectors(space, "sentence", rows)
                preferences = sentence_scores(in_space, query.vectors[space], index.sentence_tokens(hit.passage),
                                              question_tokens)
            highlight = choose_highlight(passage, preferences)
            meaning = highlight_vector(passage, highlight, english)
            # derived() calls the factory at once or not at all: the loop's `passage` is the one meant.
            citation = index.derived("citation", hit.passage,
                                     lambda: citation_for(index.documents[passage.doc_id], passage)).model_copy()  # noqa: B023
            twin = next((result for result, vector in kept
                         if result.citation.doc_id != passage.doc_id
                         and float(vector @ meaning) >= resources.settings.duplicate_similarity), None)
            if twin is not None:
                twin.also_in.append(citation)
                continue
            result = Result(rank=len(kept) + 1, score=round(query.shown.get(hit.passage, hit.score), 4),
                            text=passage.text, highlight=highlight, citation=citation,
                            recency=query.time.mark(passage.doc_id))
            kept.append((result, meaning))
        return [result for result, _ in kept]


def _ranker_sentence_scores(query: Query, resources: Resources, row: int) -> np.ndarray | None:
    """How the ranker values each sentence of a passage it ranked (its sentence-level features,
    weighed as it weighs them), so the highlight is the sentence it liked best."""
    ranker = resources.ranker
    if query.features is None or ranker is None:
        return None
    where = np.flatnonzero(query.features.rows == row)
    if not len(where):
        return None
    return query.features.sentence_matrices[int(where[0])] @ ranker.sentence_weights()
