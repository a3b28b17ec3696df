"""The collection: GET /api/documents and GET /api/documents/{doc_id}."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from assistant.api.dependencies import current_assistant
from assistant.api.language import request_language
from assistant.api.models import DocumentSummary, DocumentText, ErrorResponse
from assistant.i18n import Message
from assistant.query.assistant import Assistant

router = APIRouter()


@router.get("/api/documents", response_model=list[DocumentSummary])
def documents(assistant: Assistant = Depends(current_assistant)) -> list[DocumentSummary]:
    """Every document of the collection with its metadata and passage count."""
    return [summary(assistant, doc_id) for doc_id in assistant.index.documents]


@router.get("/api/documents/{doc_id}", response_model=DocumentText, responses={404: {"model": ErrorResponse}})
def document(doc_id: str, request: Request, assistant: Assistant = Depends(current_assistant)):
    """One document's served text (citation offsets point into it) and metadata."""
    index = assistant.index
    if doc_id not in index.documents:
        message = Message("no document with id {doc_id}; GET /api/documents lists them", {"doc_id": repr(doc_id)})
        return JSONResponse({"error": message.render(request_language(request))}, status_code=404)
    found = index.documents[doc_id]
    return DocumentText(**summary(assistant, doc_id).model_dump(), text=found.text, pages=list(found.pages))


def summary(assistant: Assistant, doc_id: str) -> DocumentSummary:
    """A document's metadata and passage count, as the API lists it."""
    index = assistant.index
    return DocumentSummary(**asdict(index.documents[doc_id].metadata), doc_id=doc_id,
                           passages=index.passage_counts[doc_id])
