"""What a request may ask: the question, how many passages, and the filters, each checked once
here (`Assistant.ask` calls these; the OpenAPI schema publishes the same limits)."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from assistant.errors import QuestionError, UnknownDocumentError
from assistant.i18n import N_
from assistant.languages import LANGUAGES
from assistant.store.index import Index

_CONTROL = "\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f"
"""Control characters (Unicode category Cc) but tab and line feed, as a regex class body."""
_SPACES = "\\x20\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
"""The white space `str.strip` removes that is not a control character, as a regex class body
(written out: ECMAScript's `\\s` and Python's differ)."""
QUESTION_PATTERN = f"^[^{_CONTROL}]*[^{_CONTROL}\\t\\n{_SPACES}][^{_CONTROL}]*$"
"""What `validate_question` accepts besides the length, as a regex that means the same in Python
and ECMAScript: no control characters but tabs and line breaks, and not only white space. The
OpenAPI schema publishes it (api/models.py); tests check that both agree character by character."""


def validate_question(question: object, max_chars: int) -> str:
    """The trimmed question, or a QuestionError that says what is wrong with it. The length counts
    every character sent (the schema's `maxLength`)."""
    if not isinstance(question, str):
        raise QuestionError(N_("the question must be text"))
    if len(question) > max_chars:
        raise QuestionError(N_("the question is {length} characters long; the limit is {limit}"), length=len(question),
                            limit=max_chars)
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in question):
        raise QuestionError(N_("the question contains control characters: remove them"))
    if any(unicodedata.category(c) == "Cs" for c in question):
        raise QuestionError(N_("the question is not valid Unicode text: it contains a lone surrogate"))
    question = question.strip()
    if not question:
        raise QuestionError(N_("the question is empty: type a question, e.g. \"Is sex work legal in Kazakhstan?\""))
    return question


def validate_k(k: object, max_k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_k:
        raise QuestionError(N_("k must be a whole number from 1 to {max_k}"), max_k=max_k)
    return k


@dataclass(frozen=True)
class Filters:
    """What a question may be answered from: some documents, a range of source years, documents
    in one language. Empty filters allow everything."""

    doc_ids: frozenset[str] | None = None
    year_from: int | None = None
    year_to: int | None = None
    language: str | None = None

    @property
    def active(self) -> bool:
        return any(value is not None for value in (self.doc_ids, self.year_from, self.year_to, self.language))

    def allowed_documents(self, index: Index) -> frozenset[str] | None:
        """The documents of `index` these filters allow; None when they allow all."""
        if not self.active:
            return None
        allowed = set(self.doc_ids) if self.doc_ids is not None else set(index.documents)
        for doc_id in list(allowed):
            document = index.documents[doc_id]
            year = document.metadata.year
            # One branch per reason a document is left out, kept apart on purpose.
            if (self.year_from is not None or self.year_to is not None) and year is None:  # noqa: SIM114
                allowed.discard(doc_id)
            elif (self.year_from is not None and year is not None and year < self.year_from) or (  # noqa: SIM114
                    self.year_to is not None and year is not None and year > self.year_to):
                allowed.discard(doc_id)
            elif self.language is not None and document.language != self.language:
                allowed.discard(doc_id)
        return frozenset(allowed)


SHOWN_ID_CHARS = 80
"""The most of an unknown document id an error repeats (ids are file names: any real one fits)."""


def validate_filters(index: Index, doc_ids: object = None, year_from: object = None, year_to: object = None,
                     language: object = None) -> Filters:
    """The filters of a request, or a QuestionError that says what is wrong with them."""
    if doc_ids is not None:
        if isinstance(doc_ids, str) or not isinstance(doc_ids, Collection) or not all(isinstance(d, str) for d in doc_ids):
            raise QuestionError(N_("doc_ids must be a list of document ids"))
        unknown = sorted(set(doc_ids) - set(index.documents))
        if unknown:
            raise UnknownDocumentError(N_("no document with id {doc_id}; GET /api/documents lists them"),
                                       doc_id=repr(unknown[0][:SHOWN_ID_CHARS]) + ("…" if len(unknown[0]) > SHOWN_ID_CHARS else ""))
        doc_ids = frozenset(doc_ids)
    for name, year in (("year_from", year_from), ("year_to", year_to)):
        if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 9999):
            raise QuestionError(N_("{name} must be a year such as 2015"), name=name)
    # year_from after year_to is an empty range, not an error (a schema cannot compare two fields):
    # no document matches, and the answer says so.
    if language is not None and language not in LANGUAGES:
        raise QuestionError(N_("language must be one of {languages}"), languages=", ".join(LANGUAGES))
    return Filters(doc_ids, year_from, year_to, language)  # type: ignore[arg-type]
