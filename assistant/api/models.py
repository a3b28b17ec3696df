"""Request and response bodies of the JSON API (the answer object itself is `answer.Answer`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AskRequest(BaseModel):
    question: str = Field(
        strict=True,
        description="The question: 1 to 1,000 characters once trimmed, no control characters (line breaks and tabs are fine).",
        examples=["Is sex work legal in Kazakhstan?"],
    )
    k: int = Field(5, strict=True, ge=1, description="How many passages to return, 1 to 50 (the `max_k` setting).")
    doc_ids: list[str] | None = Field(None, description="Answer only from these documents (ids from GET /api/documents).")
    year_from: int | None = Field(None, strict=True, description="Answer only from sources of this year or later.")
    year_to: int | None = Field(None, strict=True, description="Answer only from sources of this year or earlier.")
    language: str | None = Field(None, description="Answer only from documents in this language (en, ru or kk).")


class ErrorResponse(BaseModel):
    error: str = Field(description="What was wrong, in one sentence.")


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    publisher: str | None
    date: str | None
    date_note: str | None
    year: int | None
    url: str | None
    language: str | None
    passages: int


class DocumentText(DocumentSummary):
    text: str = Field(description="The served text: citation offsets point into it.")
    pages: list[int] = Field(
        default_factory=list, description="For a PDF: the offset in `text` where each page starts (page n at pages[n-1])."
    )


class Health(BaseModel):
    status: str
    documents: int
    passages: int
    model: str
    built_at: str | None


ERRORS = {400: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
"""The error responses every JSON route may give, for the OpenAPI schema."""
