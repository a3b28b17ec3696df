"""The answer object (design.md's contract): ranked passages, each with its highlight and citation, the
abstain flag and reason, the time focus, span and timeline.

Everything shown is a slice of a served document; nothing here writes text of its own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from assistant.i18n import Message


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
        None, description='When the sources that answer (in the whole collection, not only those shown) differ in time: '
                          '"newest" for the newest of them and those of its period (at most a year older), "older" for the others.'
    )
    state_as_of: int | None = Field(
        None, description="For a question about the present, an older source's result: the year whose state of things it "
                          "describes (its source's year, or the newest year an undated source cites), below the newer ones."
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
        None, description="When the sources that answer span a change: one quotation per source, newest first."
    )
    as_of: int | None = Field(
        None, description="The newest year of the sources behind the answer (those that answer, else those shown); "
                          "null for a refusal or when no source is dated."
    )
    data_age_note: str | None = Field(
        None, description="Set when the newest source behind the answer is more than five years old: "
                          '"This information is from 2012 and may have changed."'
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

    def __new__(cls, msgid: str, **params: object) -> AbstainReason:
        message = Message(msgid, params)
        reason = super().__new__(cls, str(message))
        reason.message = message
        return reason
