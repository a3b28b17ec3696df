"""The operator's JSON routes (`/api/operator/...`), in the OpenAPI schema: the same operations as
the pages, with a session cookie (and `X-CSRF-Token` on a change) or `Authorization: Bearer`. A
change answers once it is committed and in use; `GET /api/operator/jobs/{id}` tells how far a change
started from the page has got."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from assistant.api.dependencies import current_assistant
from assistant.api.models import ErrorResponse
from assistant.api.routers.operator import _changes as changes
from assistant.api.routers.operator._auth import Operator, jobs, operator_required
from assistant.api.routers.operator._changes import DocumentPreview, JobStatus, OperatorDocument, UploadedDocument
from assistant.api.routers.pages import ui_for
from assistant.errors import CorpusError
from assistant.i18n import N_
from assistant.ingest.dates import ISO_DATE
from assistant.languages import Language
from assistant.operator.uploads import PREVIEW_PATH, TOO_MANY_FILES, UPLOAD_PATH, Upload
from assistant.query.assistant import Assistant
from assistant.store.library import Added, checked_details

router = APIRouter(tags=["operator"])

Responses = dict[int | str, dict[str, Any]]
SIGNED_IN: Responses = {
    401: {"model": ErrorResponse, "description": "Not signed in: no session cookie or bearer token."},
    404: {"model": ErrorResponse, "description": "Sign-in is off (there is no operator file), or no such document."},
    503: {"model": ErrorResponse, "description": "The operator file is damaged, or the change failed."},
}
CHANGE: Responses = {
    **SIGNED_IN,
    403: {"model": ErrorResponse, "description": "A browser session without its CSRF token (X-CSRF-Token)."},
    409: {"model": ErrorResponse, "description": "Another change is running."},
}
FILES: Responses = {
    400: {"model": ErrorResponse, "description": "The body is not valid multipart/form-data."},
    413: {"model": ErrorResponse, "description": "Over max_upload_bytes."},
    422: {"model": ErrorResponse, "description": "A file refused (its format, size, content or id), nothing added."},
}
ISO_DATE_PATTERN = f"^{ISO_DATE.pattern}$"
"""The date's form as the schema states it (the code also refuses a date that does not exist)."""
UNKNOWN_JOB = N_("no such change: it ended long ago, or the server was restarted")


@router.get("/api/operator/documents", responses=SIGNED_IN)
def operator_documents(operator: Operator = Depends(operator_required),
                       assistant: Assistant = Depends(current_assistant)) -> list[OperatorDocument]:
    """The collection as the operator page lists it (a session cookie or `Authorization: Bearer`)."""
    return changes.documents(assistant)


async def _uploads(request: Request, files: list[UploadFile], limit: int) -> list[Upload]:
    if len(files) > limit:
        raise HTTPException(422, ui_for(request).say(TOO_MANY_FILES, n=limit))
    return [Upload(file.filename or "", await file.read()) for file in files]


@router.post(PREVIEW_PATH, responses={**CHANGE, **FILES})
async def preview_documents(
    request: Request,
    files: list[UploadFile] = File(description="One or more .pdf, .docx, .html, .txt or .md files."),
    operator: Operator = Depends(operator_required),
    assistant: Assistant = Depends(current_assistant),
) -> list[DocumentPreview]:
    """What an upload of `files` would add (the details found in each file), with nothing changed:
    for the operator to confirm or correct before `POST /api/operator/documents`."""
    operator.check_csrf(request)
    uploads = await _uploads(request, files, assistant.settings.max_upload_files)
    try:
        return await run_in_threadpool(changes.preview, assistant, uploads)
    except CorpusError as error:
        raise HTTPException(422, error.render(ui_for(request).lang)) from None


@router.post(UPLOAD_PATH, status_code=201, responses={**CHANGE, **FILES})
async def upload_documents(
    request: Request,
    files: list[UploadFile] = File(description="One or more .pdf, .docx, .html, .txt or .md files."),
    title: str | None = Form(None, max_length=500, description="The title (one file only)."),
    publisher: str | None = Form(None, max_length=500),
    date: str | None = Form(None, max_length=10, pattern=ISO_DATE_PATTERN, description="YYYY, YYYY-MM or YYYY-MM-DD."),
    url: str | None = Form(None, max_length=2000, description="The source's own http(s) address (one file only)."),
    operator: Operator = Depends(operator_required),
    assistant: Assistant = Depends(current_assistant),
) -> list[UploadedDocument]:
    """Add documents to the collection: each file's format is checked from its content, then all of
    them are added through the collection's transactional add (all or none), and the service answers
    from the new index at once."""
    operator.check_csrf(request)
    uploads = await _uploads(request, files, assistant.settings.max_upload_files)
    try:
        checked_details({"title": title or "", "publisher": publisher or "", "date": date or "", "url": url or ""})
        job = changes.start_upload(request, assistant, operator, uploads, title=title, publisher=publisher,
                                   date=date, url=url)
    except CorpusError as error:
        raise HTTPException(422, error.render(ui_for(request).lang)) from None
    added = cast(list[Added], await changes.finished(request, job))
    return [UploadedDocument(doc_id=item.document.doc_id, title=item.document.metadata.title, passages=item.passages,
                             warnings=item.warnings) for item in added]


class DocumentChanges(BaseModel):
    """New values for some of a document's details; a detail left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=500)
    publisher: str | None = Field(None, min_length=1, max_length=500)
    date: str | None = Field(None, pattern=ISO_DATE_PATTERN, description="YYYY, YYYY-MM or YYYY-MM-DD.")
    url: str | None = Field(None, max_length=2000, description="The source's own http(s) address.")
    language: Language | None = None


@router.patch("/api/operator/documents/{doc_id}", responses={
    **CHANGE, 400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
    422: {"model": ErrorResponse, "description": "A value refused; nothing changed."}})
async def edit_details(doc_id: str, edits: DocumentChanges, request: Request,
                       operator: Operator = Depends(operator_required),
                       assistant: Assistant = Depends(current_assistant)) -> OperatorDocument:
    """Correct a document's title, publisher, date, address or language; the index is updated (the
    date decides which source is the current one) and the service answers from it at once."""
    operator.check_csrf(request)
    values = edits.model_dump(exclude_none=True)
    await changes.finished(request, changes.start_edit(request, assistant, operator, doc_id, values))
    return next(row for row in changes.documents(assistant) if row.doc_id == doc_id)


@router.delete("/api/operator/documents/{doc_id}", status_code=204, responses={
    **CHANGE, 409: {"model": ErrorResponse, "description": "The last document, or another change is running."}})
async def delete_document(doc_id: str, request: Request, operator: Operator = Depends(operator_required),
                          assistant: Assistant = Depends(current_assistant)) -> Response:
    """Remove a document from the collection (its file and sidecar, the index rebuilt)."""
    operator.check_csrf(request)
    await changes.finished(request, changes.start_removal(request, assistant, operator, doc_id))
    return Response(status_code=204)


@router.get("/api/operator/jobs/{job_id}", responses={
    **SIGNED_IN, 404: {"model": ErrorResponse, "description": "No such change (or sign-in is off)."}})
def job(job_id: str, request: Request, operator: Operator = Depends(operator_required)) -> JobStatus:
    """How far a change has got: its step, items done of its total, a guess at the time left; then
    its outcome."""
    found = jobs(request).get(job_id)
    if found is None:
        raise HTTPException(404, UNKNOWN_JOB)
    return changes.job_status(found, ui_for(request))
