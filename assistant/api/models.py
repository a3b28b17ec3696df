"""Request and response bodies of the JSON API (the answer object itself is `answer.Answer`).

The limits on a question are enforced once, by `Assistant.ask` (query/validation.py); the schema states
them (`document_limits`, from the running settings, so there is no second copy of a limit) so that
a request the schema allows is answered, and one it does not is refused.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from assistant.languages import LANGUAGES
from assistant.query.validation import QUESTION_PATTERN
from assistant.settings import Settings


def whole_number(value: object) -> object:
    """JSON's 5.0 is the integer 5 (as JSON Schema has it); 5.5, "5" and true stay refused (a
    pydantic before-validator for strict integer fields)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


class AskRequest(BaseModel):
    question: str = Field(
        strict=True,
        description="The question: 1 to 1,000 characters once trimmed, no control characters (line breaks and tabs are fine).",
        examples=["Is sex work legal in Kazakhstan?"],
    )
    k: int = Field(5, strict=True, ge=1, description="How many passages to return, 1 to 50 (the `max_k` setting).")
    doc_ids: list[str] | None = Field(None, description="Answer only from these documents (ids from GET /api/documents).")
    year_from: int | None = Field(None, strict=True, description="Answer only from sources of this year or later "
                                  "(a range that ends before it starts matches no document).")
    year_to: int | None = Field(None, strict=True, description="Answer only from sources of this year or earlier.")
    language: str | None = Field(None, description="Answer only from documents in this language (en, ru or kk).")

    _whole_numbers = field_validator("k", "year_from", "year_to", mode="before")(whole_number)


class ErrorResponse(BaseModel):
    error: str = Field(description="What was wrong, in one sentence.")


class DocumentDetails(BaseModel):
    """What a citation says of a document."""

    doc_id: str
    title: str
    publisher: str | None
    date: str | None
    date_note: str | None
    year: int | None
    url: str | None
    language: str | None


class DocumentSummary(DocumentDetails):
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


ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
"""The error responses every JSON route may give, for the OpenAPI schema."""


def document_limits(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`schema` (FastAPI's OpenAPI document) with the limits `Assistant.ask` and the server enforce:
    the question's length and pattern, k's maximum, the years' range, the languages, the body size
    (413) and unknown documents (404)."""
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("AskRequest", "FeedbackRequest"):  # one validation of a question, stated for both
        if name in schemas:
            schemas[name]["properties"]["question"].update(
                minLength=1, maxLength=settings.max_question_chars, pattern=QUESTION_PATTERN)
    request = schemas.get("AskRequest")
    if request is not None:
        fields = request["properties"]
        fields["question"]["description"] = (
            f"The question: 1 to {settings.max_question_chars:,} characters, not only white space, no control "
            "characters (line breaks and tabs are fine).")
        fields["k"].update(maximum=settings.max_k)
        fields["k"]["description"] = f"How many passages to return, 1 to {settings.max_k} (the `max_k` setting)."
        for name in ("year_from", "year_to"):
            _integer_branch(fields[name]).update(minimum=1000, maximum=9999)
        _string_branch(fields["language"])["enum"] = list(LANGUAGES)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for path in schema.get("paths", {}).values():
        if "post" in path:  # the body limit holds for every request with a body
            path["post"]["responses"]["413"] = {
                "description": f"The request body is over {settings.max_request_bytes:,} bytes "
                               "(the `max_request_bytes` setting)", "content": error}
    ask = schema.get("paths", {}).get("/api/ask", {}).get("post")
    if ask is not None:
        ask["responses"]["404"] = {"description": "A document named in `doc_ids` is not in the collection",
                                   "content": error}
    return schema


def _integer_branch(field: dict) -> dict:
    return next(option for option in field.get("anyOf", [field]) if option.get("type") == "integer")


def _string_branch(field: dict) -> dict:
    return next(option for option in field.get("anyOf", [field]) if option.get("type") == "string")
