"""The answer object: ranked passages, each with its highlight and citation, and the abstain flag.

Everything shown is a slice of a served document; nothing here writes text of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, PrivateAttr, model_validator

from .i18n import N_, Message

from .chunking import Passage
from .corpus import Document, page_at

ABSTAIN_NOT_MENTIONED = N_("the documents do not mention {terms}")
ABSTAIN_TOO_FAR = N_("no passage is close enough to the question")
ABSTAIN_NO_DOCUMENTS = N_("no document matches the filters")

HIGHLIGHT_TERM_WEIGHT = 0.3
"""Weight of question-word overlap next to cosine similarity when picking the answer sentence."""
HIGHLIGHT_EXTEND_MARGIN = 0.05
"""An adjacent sentence scoring within this of the best one joins the highlight."""


class Highlight(BaseModel):
    start: int = Field(description="Offset in the result's `text` where the best-matching sentence(s) start.")
    end: int


class Citation(BaseModel):
    doc_id: str
    title: str
    publisher: str | None
    date: str | None = Field(description="ISO date as precise as known (YYYY, YYYY-MM or YYYY-MM-DD); null when unknown.")
    date_note: str | None = None
    year: int | None = Field(None, description="The year the source speaks for, when known.")
    year_estimate: int | None = Field(None, description="For an undated source: the newest year its text cites, "
                                                        "a lower bound on when it was written.")
    year_label: str = Field("year unknown", description='The year as shown: "2015", or "year unknown, cites 2004 data".')
    url: str | None
    section: str | None = None
    start: int = Field(description="Offset of the passage in the document text served by GET /api/documents/{doc_id}.")
    end: int
    page: int | None = Field(None, description="The page of the source (a PDF) the passage starts on; null when it has no pages.")
    language: str | None = Field(None, description="The language of the source's text (ISO 639-1), which quotations keep.")


class Result(BaseModel):
    rank: int
    score: float
    text: str
    highlight: Highlight
    citation: Citation
    also_in: list[Citation] = Field(
        default_factory=list, description="Other passages that say the same thing, folded into this result."
    )
    recency: Literal["newest", "older"] | None = Field(
        None, description='When the sources that answer differ in time: "newest" for the newest of them, "older" for the others.'
    )


class TimelineEntry(BaseModel):
    """One source's say in a change over time: a quotation (the result's highlighted sentences)."""

    year: int | None
    year_label: str
    rank: int = Field(description="The rank of the result it quotes.")
    quote: str = Field(description="The highlighted sentence(s) of that result, verbatim.")
    citation: Citation


class Answer(BaseModel):
    question: str
    language: str = Field("en", description="The language the question was asked in (ISO 639-1: en, ru or kk).")
    abstained: bool = Field(description="True when the corpus does not seem to answer; the nearest passages may still be listed.")
    abstain_reason: str | None = Field(None, description="Why the assistant abstained, in plain words.")
    sources_span: list[int] | None = Field(
        None, description="[oldest, newest] source year of the top results when they lie more than five years apart."
    )
    time_focus: Literal["present", "past", "neutral"] = Field(
        "neutral", description="Whether the question asks about now, about the past, or neither."
    )
    timeline: list[TimelineEntry] | None = Field(
        None, description="When the sources that answer span a change: one quotation per source, oldest first."
    )
    results: list[Result]

    _abstain_message: Message | None = PrivateAttr(None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_reason_message(cls, data, handler):
        """`abstain_reason` is stored as English text; an `AbstainReason` also leaves its message
        id and parameters, so the page and the CLI can say it in their reader's language."""
        answer = handler(data)
        reason = data.get("abstain_reason") if isinstance(data, dict) else None
        if isinstance(reason, AbstainReason):
            answer._abstain_message = reason.message
        return answer

    def abstain_message(self) -> Message | None:
        """Why the assistant abstained, as a message to render in the reader's language."""
        if self.abstain_reason is None:
            return None
        return self._abstain_message or Message(self.abstain_reason)


class AbstainReason(str):
    """The English text of an abstain reason that remembers its message id and parameters."""

    message: Message

    def __new__(cls, msgid: str, **params: object) -> "AbstainReason":
        message = Message(msgid, params)
        reason = super().__new__(cls, str(message))
        reason.message = message
        return reason


def citation_for(document: Document, passage: Passage) -> Citation:
    metadata = {**asdict(document.metadata), "language": document.language}
    return Citation(**metadata, year_label=document.year_label, doc_id=document.doc_id,
                    section=passage.section, start=passage.start, end=passage.end,
                    page=page_at(document.pages, passage.start))


def timeline(results: list[Result], min_years: int) -> list[TimelineEntry] | None:
    """One entry per source among the marked results (its best-ranked one), oldest first, when
    their years lie more than `min_years` apart; None otherwise."""
    entries: dict[str, TimelineEntry] = {}
    for result in results:
        citation = result.citation
        if result.recency is None or citation.doc_id in entries:
            continue
        entries[citation.doc_id] = TimelineEntry(
            year=citation.year or citation.year_estimate, year_label=citation.year_label, rank=result.rank,
            quote=result.text[result.highlight.start : result.highlight.end], citation=citation)
    years = [entry.year for entry in entries.values() if entry.year is not None]
    if len(years) < 2 or max(years) - min(years) <= min_years:
        return None
    return sorted(entries.values(), key=lambda entry: (entry.year is not None, entry.year or 0, entry.rank))


def choose_highlight(passage: Passage, sentence_scores: np.ndarray) -> Highlight:
    """The sentence of the passage that scores best (`sentence_scores`, one per sentence), joined
    by an adjacent one that scores within `HIGHLIGHT_EXTEND_MARGIN` of it."""
    if not passage.sentences:
        return Highlight(start=0, end=len(passage.text))
    scores = np.asarray(sentence_scores, dtype=np.float32)
    best = int(np.argmax(scores))
    first = last = best
    neighbours = [i for i in (best - 1, best + 1) if 0 <= i < len(scores)]
    if neighbours:
        runner_up = max(neighbours, key=lambda i: scores[i])
        if scores[runner_up] >= scores[best] - HIGHLIGHT_EXTEND_MARGIN:
            first, last = min(best, runner_up), max(best, runner_up)
    return Highlight(start=passage.sentences[first][0], end=passage.sentences[last][1])


def sentence_scores(sentence_vectors: np.ndarray, question_vector: np.ndarray, sentence_tokens: Sequence[frozenset[str]],
                    question_tokens: set[str]) -> np.ndarray:
    """How well each sentence matches the question: cosine plus `HIGHLIGHT_TERM_WEIGHT` times the
    share of the question's words it contains (the fallback when no ranker is loaded)."""
    scores = sentence_vectors @ question_vector
    if question_tokens and len(sentence_tokens):
        overlap = np.array([len(question_tokens & tokens) / len(question_tokens) for tokens in sentence_tokens],
                           dtype=np.float32)
        scores = scores + HIGHLIGHT_TERM_WEIGHT * overlap
    return scores


def abstain_reason(evidence: float, unknown_terms: list[str], min_evidence: float) -> AbstainReason | None:
    """Why the corpus does not seem to answer, or None when it does.

    `evidence` is the fused score of the best passage (cosine similarity and saturated BM25, on
    an absolute scale); `unknown_terms` are places or years the question names that no document
    mentions."""
    if unknown_terms:
        return AbstainReason(ABSTAIN_NOT_MENTIONED, terms=", ".join(unknown_terms))
    if evidence < min_evidence:
        return AbstainReason(ABSTAIN_TOO_FAR)
    return None


def abstain_reason_no_documents() -> AbstainReason:
    """The reason given when the request's filters leave no document to answer from."""
    return AbstainReason(ABSTAIN_NO_DOCUMENTS)


def sources_span(results: list[Result], min_years: int) -> list[int] | None:
    """[oldest, newest] year of the results' sources when they are more than `min_years` apart:
    the law changed, and a reader must see that the sources disagree in time."""
    years = [r.citation.year for r in results if r.citation.year is not None]
    if years and max(years) - min(years) > min_years:
        return [min(years), max(years)]
    return None
