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
    read_as: str | None = Field(None, description="The question as searched, when it was typed in Latin letters in "
                                "Russian or Kazakh and read in Cyrillic (null: searched as asked).")
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
    answerability: float | None = Field(
        None, description="The answerability model's chance that the documents answer the question (null: no model); "
                          "below its threshold the answer is a refusal."
    )
    missing: Literal["penalty", "price", "phone", "address", "hours", "website", "number", "date"] | None = Field(
        None, description="What the question asks for that none of the passages searched gives (a penalty, a price, "
                          "a phone number, an address, opening hours, a web address, a figure, a date); null when "
                          "nothing asked for is missing or the question asks for none of these."
    )
    missing_note: str | None = Field(
        None, description='For an answer that is not a refusal but lacks what was asked: "Partly answered: the '
                          'documents discuss this but give no penalty or prison term." (a refusal says it in '
                          "`abstain_reason`)."
    )
    results: list[Result]

    _messages: dict[str, Message] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_messages(cls, data, handler):
        """`abstain_reason` and `missing_note` are stored as English text; a `Said` also leaves its
        message id and parameters, so the page and the CLI can say it in their reader's language."""
        answer = handler(data)
        if isinstance(data, dict):
            for name in ("abstain_reason", "missing_note"):
                if isinstance(data.get(name), Said):
                    answer._messages[name] = data[name].message
        return answer

    def message(self, name: str) -> Message | None:
        """The text field `name` ("abstain_reason", "missing_note") as a message to render in
        the reader's language (None when the field is empty)."""
        text = getattr(self, name)
        if text is None:
            return None
        return self._messages.get(name) or Message(text)

    def said_in(self, lang: str) -> Answer:
        """The answer with its sentences (`abstain_reason`, `missing_note`) in `lang`: what the API
        and the page's script are sent."""
        update = {name: message.render(lang) for name in ("abstain_reason", "missing_note")
                  if (message := self.message(name)) is not None}
        return self.model_copy(update=update) if update and lang != "en" else self

    def abstain_message(self) -> Message | None:
        """Why the assistant abstained, as a message to render in the reader's language."""
        return self.message("abstain_reason")


class Said(str):
    """The English text of a message (an abstain reason, a note) that remembers its message id and
    parameters, to be said again in another language."""

    message: Message

    def __new__(cls, msgid: str, **params: object) -> Said:
        message = Message(msgid, params)
        said = super().__new__(cls, str(message))
        said.message = message
        return said


AbstainReason = Said
"""Why the assistant abstained."""
