"""The changes an operator makes, written once for the pages and the JSON routes: each goes through
the collection's one transactional path (`store.library`: lock, journal, rebuild, switch) with the
loaded models, as a job whose progress can be watched; once it is committed it is in the audit trail
and the service answers from the new index at once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from assistant.api.models import DocumentDetails, DocumentSummary
from assistant.api.routers.documents import summary
from assistant.api.routers.operator._auth import UNKNOWN_DOCUMENT, Operator, jobs
from assistant.api.routers.pages import ui_for
from assistant.errors import AssistantError, CorpusError
from assistant.i18n import N_
from assistant.ingest.corpus import Document
from assistant.operator import audit
from assistant.operator.jobs import Action, Job
from assistant.operator.uploads import Upload, safe_names, stage
from assistant.query.assistant import Assistant
from assistant.store.library import (
    Added,
    add_documents,
    edit_document,
    examine_documents,
    missing_details,
    remove_document,
)
from assistant.store.transaction import CollectionBusyError
from assistant.ui import Ui

STEPS = {None: N_("Starting"), "reading": N_("Reading the documents"), "passages": N_("Encoding the passages"),
         "sentences": N_("Encoding the sentences"), "writing": N_("Writing the index"),
         "switching": N_("Switching to the new index")}
ACTIONS = {"upload": N_("Adding documents"), "edit": N_("Correcting a document's details"),
           "remove": N_("Removing a document")}


class OperatorDocument(DocumentSummary):
    """A document as the operator page lists it."""

    year_estimate: int | None = None
    pages: int | None = None
    added: str | None = Field(None, description="When its file entered the collection (UTC, ISO 8601).")


class DocumentPreview(DocumentDetails):
    """What an upload would add, for the operator to confirm or correct: the details found in the
    file, and how it would be cut."""

    file: str = Field(description="The name it would be stored under (its document id and format).")
    year_estimate: int | None = Field(description="For an undated file: the newest year its text cites.")
    language: str = Field(description="As declared in the file, else detected from its text.")
    pages: int | None
    passages: int
    missing: list[str] = Field(description="Details the file does not give (publisher, date): fill them in.")


class UploadedDocument(BaseModel):
    """A document the upload added: its id, title, passages, and what its citations will lack."""

    doc_id: str
    title: str
    passages: int
    warnings: list[str]


class JobStatus(BaseModel):
    """How far a change has got."""

    id: str
    action: str
    documents: list[str]
    state: str = Field(description="running, done or failed.")
    step: str | None = Field(description="reading, passages, sentences, writing or switching.")
    done: int
    total: int
    seconds: int = Field(description="Since the change started.")
    seconds_left: int | None = Field(description="A guess at the time the current step still needs.")
    message: str = Field(description="The step, or the outcome, in the reader's language.")
    error: str | None = None


def documents(assistant: Assistant) -> list[OperatorDocument]:
    """The collection as the operator sees it, newest first: the API's summary, plus the year's
    estimate and the page count."""
    rows = []
    for doc_id, document in assistant.index.documents.items():
        rows.append(OperatorDocument(**summary(assistant, doc_id).model_dump(),
                                     year_estimate=document.metadata.year_estimate,
                                     pages=len(document.pages) if document.pages else None,
                                     added=_added(assistant.settings.corpus_dir / document.path.name)))
    return sorted(rows, key=lambda row: (row.year or row.year_estimate or 0, row.title), reverse=True)


def _added(path: Path) -> str | None:
    """When `path` entered the corpus folder: an added file is moved in as it was staged, so its
    modification time is the change's."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(microsecond=0).isoformat()
    except OSError:
        return None


def job_status(job: Job, ui: Ui) -> JobStatus:
    if job.state == "failed" and job.error is not None:
        message = job.error.render(ui.lang)
    elif job.state == "done":
        message = ui._(N_("Done: the service answers from the new collection."))
    elif job.total:
        message = ui.say(N_("{step}: {done} of {total}"), step=ui._(STEPS[job.step]), done=job.done, total=job.total)
    else:
        message = ui._(STEPS[job.step])
    return JobStatus(id=job.id, action=job.action, documents=job.documents, state=job.state, step=job.step,
                     done=job.done, total=job.total, seconds=job.seconds(), seconds_left=job.seconds_left(),
                     message=message, error=job.error.render(ui.lang) if job.error else None)


def _start(request: Request, assistant: Assistant, operator: Operator, action: Action, doc_ids: list[str],
           change: Callable[[], object]) -> Job:
    """`change` as a job: once it is committed, in the audit trail and in use. 409 when another
    change is running."""

    def work() -> object:
        result = change()
        audit.record(assistant.settings.operator_audit_file, action, operator.by, doc_ids)
        assistant.refresh()
        return result

    try:
        return jobs(request).start(action, doc_ids, work)
    except CollectionBusyError as error:
        raise HTTPException(409, error.render(ui_for(request).lang)) from None


def document_of(assistant: Assistant, doc_id: str) -> Document:
    """The collection's document `doc_id`; 404 when there is none."""
    document = assistant.index.documents.get(doc_id)
    if document is None:
        raise HTTPException(404, UNKNOWN_DOCUMENT)
    return document


LAST_DOCUMENT = N_("this is the last document: the collection cannot be empty; add another first")


def start_removal(request: Request, assistant: Assistant, operator: Operator, doc_id: str) -> Job:
    document_of(assistant, doc_id)
    if len(assistant.index.documents) == 1:
        raise HTTPException(409, LAST_DOCUMENT)
    return _start(request, assistant, operator, "remove", [doc_id],
                  lambda: remove_document(assistant.settings, doc_id, embedders=assistant.embedders, wait=False))


def start_edit(request: Request, assistant: Assistant, operator: Operator, doc_id: str, values: dict[str, str]) -> Job:
    document_of(assistant, doc_id)
    return _start(request, assistant, operator, "edit", [doc_id],
                  lambda: edit_document(assistant.settings, doc_id, values, embedders=assistant.embedders, wait=False))


def start_upload(request: Request, assistant: Assistant, operator: Operator, uploads: list[Upload], *,
                 details: Sequence[Mapping[str, str]] | None = None, title: str | None = None,
                 publisher: str | None = None, date: str | None = None, url: str | None = None) -> Job:
    """Add `uploads`, each with its `details`, or all with the same publisher and date (and one
    with a title and address); a file refused by its name or content is a CorpusError here, before
    any job."""
    doc_ids = [Path(name).stem for name in safe_names(uploads)]  # a bad file refused here, before any job

    def change() -> list[Added]:
        with tempfile.TemporaryDirectory(prefix="upload-") as folder:
            paths = stage(uploads, Path(folder))
            added, _ = add_documents(assistant.settings, paths, title=title or None, publisher=publisher or None,
                                     date=date or None, url=url or None, details=details,
                                     embedders=assistant.embedders, wait=False)
        return added

    return _start(request, assistant, operator, "upload", doc_ids, change)


def preview(assistant: Assistant, uploads: list[Upload]) -> list[DocumentPreview]:
    """What adding `uploads` would add, with nothing written (a CorpusError for a file refused)."""
    settings = assistant.settings
    with tempfile.TemporaryDirectory(prefix="preview-") as folder:
        found = examine_documents(settings, stage(uploads, Path(folder)))
    previews = []
    for item in found:
        document, meta = item.document, item.document.metadata
        previews.append(DocumentPreview(
            file=f"{document.doc_id}{document.path.suffix}", doc_id=document.doc_id, title=meta.title,
            publisher=meta.publisher, date=meta.date, date_note=meta.date_note, year=meta.year,
            year_estimate=meta.year_estimate, language=document.language, url=meta.url,
            pages=len(document.pages) or None, passages=item.passages,
            missing=missing_details(document)))
    return previews


async def finished(request: Request, job: Job) -> object:
    """Wait for `job` (a JSON route answers when the change is done) and return its result, or its
    failure as 409 (busy), 422 (refused) or 503."""
    await run_in_threadpool(job.finished.wait)
    if job.error is not None:
        raise HTTPException(_status(job.error), job.error.render(ui_for(request).lang))
    return job.result


def _status(error: AssistantError) -> int:
    if isinstance(error, CollectionBusyError):
        return 409
    return 422 if isinstance(error, CorpusError) else 503
