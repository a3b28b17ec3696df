"""The operator area: sign-in, sign-out, and the collection as a table (`/operator`), with the same
list as JSON (`/api/operator/documents`). Upload, correction and removal (issue 26) build on it.

Sign-in is off unless the operator file exists (`assistant operator set-password`): then every route
here answers 404, as if it did not exist. A browser signs in with the password and gets a session
cookie (HttpOnly, SameSite=Strict, Secure over HTTPS, expiring); every change it asks for carries
the session's CSRF token. A program sends `Authorization: Bearer TOKEN` (`assistant operator
token`), which no other site can make a browser send, so it needs no CSRF token. Failed sign-ins are
slowed per client (`SignInThrottle`). The asking page stays open to everyone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from assistant.api.dependencies import current_assistant
from assistant.api.models import DocumentSummary, ErrorResponse
from assistant.api.routers.documents import summary
from assistant.api.routers.pages import page_frame, templates, ui_for
from assistant.errors import CorpusError
from assistant.i18n import N_
from assistant.languages import Language
from assistant.operator import audit
from assistant.operator.credentials import OperatorCredentials, token_name, verify_password
from assistant.operator.sessions import Session, Sessions, SignInThrottle
from assistant.operator.uploads import UPLOAD_PATH, Upload, stage
from assistant.query.assistant import Assistant
from assistant.store.library import add_documents, edit_document, remove_document
from assistant.store.transaction import CollectionBusyError

router = APIRouter()

SESSION_COOKIE = "operator_session"
SIGN_IN_COOKIE = "operator_sign_in"
"""A random value set with the sign-in form and posted back with it: a page on another site cannot
read it, so it cannot sign a browser in to an account of its choosing (login CSRF)."""
NOT_SIGNED_IN = N_("sign in first: this needs the operator's session or a bearer token")
BAD_CSRF = N_("the form is out of date or came from elsewhere: reload the page and try again")


class OperatorDocument(DocumentSummary):
    """A document as the operator page lists it."""

    year_estimate: int | None = None
    pages: int | None = None


@dataclass(frozen=True)
class Operator:
    """Who is asking: a browser's session (with its CSRF token), or a program's bearer token."""

    session_id: str | None = None
    session: Session | None = None
    token_name: str | None = None

    @property
    def by(self) -> str:
        """How the audit trail names this operator: the token's name, or the start of a hash of the
        session id (the cookie itself is never written down)."""
        if self.token_name is not None:
            return f"token {self.token_name}"
        return "session " + hashlib.sha256((self.session_id or "").encode()).hexdigest()[:8]


def credentials(request: Request, assistant: Assistant = Depends(current_assistant)) -> OperatorCredentials:
    """The operator file's credentials; 404 when there is none (sign-in is off)."""
    found = OperatorCredentials.load(assistant.settings.operator_file)
    if found is None:
        raise HTTPException(404, "Not Found")
    return found


def _sessions(request: Request) -> Sessions:
    return request.app.state.operator_sessions


def _throttle(request: Request) -> SignInThrottle:
    return request.app.state.sign_in_throttle


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def signed_in(request: Request, found: OperatorCredentials = Depends(credentials)) -> Operator | None:
    """The operator behind this request, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        name = token_name(found, token.strip())
        return Operator(token_name=name) if name is not None else None
    session_id = request.cookies.get(SESSION_COOKIE)
    session = _sessions(request).get(session_id)
    return Operator(session_id, session) if session else None


def operator_required(operator: Operator | None = Depends(signed_in)) -> Operator:
    """For the JSON routes: 401 without a session or token."""
    if operator is None:
        raise HTTPException(401, NOT_SIGNED_IN, headers={"www-authenticate": "Bearer"})
    return operator


async def _form(request: Request) -> dict[str, str]:
    """A posted urlencoded form (bounded by the app's body limit); the last value of each field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _documents(assistant: Assistant) -> list[OperatorDocument]:
    """The collection as the operator sees it, newest first: the API's summary, plus the year's
    estimate and the page count."""
    rows = []
    for doc_id, document in assistant.index.documents.items():
        rows.append(OperatorDocument(**summary(assistant, doc_id).model_dump(),
                                     year_estimate=document.metadata.year_estimate,
                                     pages=len(document.pages) if document.pages else None))
    return sorted(rows, key=lambda row: (row.year or row.year_estimate or 0, row.title), reverse=True)


@router.get("/operator/sign-in", response_class=HTMLResponse, include_in_schema=False)
def sign_in_page(request: Request, found: OperatorCredentials = Depends(credentials),
                 assistant: Assistant = Depends(current_assistant)):
    return _sign_in_form(request, assistant)


def _sign_in_form(request: Request, assistant: Assistant, error: str | None = None, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    ui = ui_for(request)
    nonce = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request, "operator_sign_in.html", {**page_frame(request, assistant, ui), "nonce": nonce, "error": error},
        status_code=status, headers=headers)
    response.set_cookie(SIGN_IN_COOKIE, nonce, max_age=600, path="/operator", httponly=True, samesite="strict",
                        secure=_secure(request))
    return response


@router.post("/operator/sign-in", response_class=HTMLResponse, include_in_schema=False)
async def sign_in(request: Request, found: OperatorCredentials = Depends(credentials),
                  assistant: Assistant = Depends(current_assistant)):
    """The password checked (argon2, in a worker thread); a session cookie on success."""
    ui = ui_for(request)
    form = await _form(request)
    nonce = request.cookies.get(SIGN_IN_COOKIE) or ""
    if not nonce or not hmac.compare_digest(nonce.encode(), form.get("nonce", "").encode("utf-8", "replace")):
        return _sign_in_form(request, assistant, ui._(BAD_CSRF), status=403)
    client, throttle = _client(request), _throttle(request)
    wait = throttle.wait(client)
    if wait > 0:
        seconds = int(wait) + 1
        return _sign_in_form(request, assistant, ui.say(N_("too many failed sign-ins: wait {seconds} s and try again"),
                                                        seconds=seconds),
                             status=429, headers={"retry-after": str(seconds)})
    if not await run_in_threadpool(verify_password, found, form.get("password", "")):
        throttle.failed(client)
        return _sign_in_form(request, assistant, ui._(N_("wrong password")), status=401)
    throttle.succeeded(client)
    session_id, _ = _sessions(request).open()
    audit.record(assistant.settings.operator_audit_file, "sign-in", Operator(session_id).by)
    response = RedirectResponse(ui.url("/operator"), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, max_age=int(_sessions(request).lifetime), path="/",
                        httponly=True, samesite="strict", secure=_secure(request))
    response.delete_cookie(SIGN_IN_COOKIE, path="/operator")
    return response


@router.post("/operator/sign-out", include_in_schema=False)
async def sign_out(request: Request, operator: Operator | None = Depends(signed_in),
                   assistant: Assistant = Depends(current_assistant)):
    ui = ui_for(request)
    if operator is not None and operator.session is not None:
        if not operator.session.csrf_matches((await _form(request)).get("csrf")):
            raise HTTPException(403, BAD_CSRF)
        _sessions(request).close(operator.session_id)
        audit.record(assistant.settings.operator_audit_file, "sign-out", operator.by)
    response = RedirectResponse(ui.url("/operator/sign-in"), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/operator", response_class=HTMLResponse, include_in_schema=False)
def operator_page(request: Request, operator: Operator | None = Depends(signed_in),
                  assistant: Assistant = Depends(current_assistant)):
    """The collection as a table; the sign-in page for anyone not signed in."""
    ui = ui_for(request)
    if operator is None or operator.session is None:
        return RedirectResponse(ui.url("/operator/sign-in"), status_code=303)
    context = {**page_frame(request, assistant, ui), "documents": _documents(assistant), "csrf": operator.session.csrf,
               "trail": list(reversed(audit.read(assistant.settings.operator_audit_file, last=20)))}
    return templates.TemplateResponse(request, "operator.html", context)


@router.get("/api/operator/documents", tags=["operator"], responses={
    401: {"model": ErrorResponse, "description": "Not signed in: no session cookie or bearer token."},
    404: {"model": ErrorResponse, "description": "Sign-in is off: there is no operator file."},
    503: {"model": ErrorResponse, "description": "The operator file is damaged."}})
def operator_documents(operator: Operator = Depends(operator_required),
                       assistant: Assistant = Depends(current_assistant)) -> list[OperatorDocument]:
    """The collection as the operator page lists it (a session cookie or `Authorization: Bearer`)."""
    return _documents(assistant)


# Removing a document ------------------------------------------------------------------------------


def _check_csrf(request: Request, operator: Operator, given: str | None) -> None:
    """A browser session's change must carry its CSRF token (a form field or `X-CSRF-Token`); a
    bearer token is not sent by browsers on their own, so it needs none."""
    if operator.session is not None and not operator.session.csrf_matches(
            given or request.headers.get("x-csrf-token")):
        raise HTTPException(403, BAD_CSRF)


async def _remove(assistant: Assistant, doc_id: str, operator: Operator) -> None:
    """Take `doc_id` out through the collection's one transactional path (lock, journal, rebuild,
    switch), the loaded models reused; the server answers from the new index on its next request.
    An unknown id is 404, the last document or a change already running is 409."""
    if doc_id not in assistant.index.documents:
        raise HTTPException(404, UNKNOWN_DOCUMENT)
    try:
        await run_in_threadpool(remove_document, assistant.settings, doc_id, embedders=assistant.embedders,
                                wait=False)
    except CollectionBusyError as error:
        raise HTTPException(409, error.render()) from None
    except CorpusError as error:
        raise HTTPException(409, error.render()) from None
    audit.record(assistant.settings.operator_audit_file, "remove", operator.by, [doc_id])
    await run_in_threadpool(assistant.refresh)


UNKNOWN_DOCUMENT = N_("no such document in the collection: the operator page lists them")


@router.delete("/api/operator/documents/{doc_id}", status_code=204, tags=["operator"], responses={
    401: {"model": ErrorResponse, "description": "Not signed in."},
    403: {"model": ErrorResponse, "description": "A browser session without its CSRF token (X-CSRF-Token)."},
    404: {"model": ErrorResponse, "description": "No such document, or sign-in is off."},
    409: {"model": ErrorResponse, "description": "The last document, or another change is running."},
    503: {"model": ErrorResponse, "description": "The operator file is damaged."}})
async def delete_document(doc_id: str, request: Request, operator: Operator = Depends(operator_required),
                          assistant: Assistant = Depends(current_assistant)) -> Response:
    """Remove a document from the collection (its file and sidecar, the index rebuilt)."""
    _check_csrf(request, operator, None)
    await _remove(assistant, doc_id, operator)
    return Response(status_code=204)


@router.get("/operator/documents/{doc_id}/remove", response_class=HTMLResponse, include_in_schema=False)
def confirm_removal(doc_id: str, request: Request, operator: Operator | None = Depends(signed_in),
                    assistant: Assistant = Depends(current_assistant)):
    """The confirmation step (works without JS): what will go, and the button that does it."""
    ui = ui_for(request)
    if operator is None or operator.session is None:
        return RedirectResponse(ui.url("/operator/sign-in"), status_code=303)
    document = assistant.index.documents.get(doc_id)
    if document is None:
        raise HTTPException(404, UNKNOWN_DOCUMENT)
    context = {**page_frame(request, assistant, ui), "document": document, "csrf": operator.session.csrf}
    return templates.TemplateResponse(request, "operator_remove.html", context)


@router.post("/operator/documents/{doc_id}/remove", include_in_schema=False)
async def remove_from_page(doc_id: str, request: Request, operator: Operator | None = Depends(signed_in),
                           assistant: Assistant = Depends(current_assistant)):
    ui = ui_for(request)
    if operator is None or operator.session is None:
        return RedirectResponse(ui.url("/operator/sign-in"), status_code=303)
    _check_csrf(request, operator, (await _form(request)).get("csrf"))
    await _remove(assistant, doc_id, operator)
    return RedirectResponse(ui.url("/operator"), status_code=303)


# Uploading documents -------------------------------------------------------------------------------


class UploadedDocument(BaseModel):
    """A document the upload added: its id, title, passages, and what its citations will lack."""

    doc_id: str
    title: str
    passages: int
    warnings: list[str]


@router.post(UPLOAD_PATH, status_code=201, tags=["operator"], responses={
    400: {"model": ErrorResponse, "description": "The body is not valid multipart/form-data."},
    401: {"model": ErrorResponse, "description": "Not signed in."},
    403: {"model": ErrorResponse, "description": "A browser session without its CSRF token (X-CSRF-Token)."},
    404: {"model": ErrorResponse, "description": "Sign-in is off."},
    409: {"model": ErrorResponse, "description": "Another change is running."},
    413: {"model": ErrorResponse, "description": "Over max_upload_bytes."},
    422: {"model": ErrorResponse, "description": "A file refused (its format, size, content or id), nothing added."},
    503: {"model": ErrorResponse, "description": "The operator file is damaged."}})
async def upload_documents(
    request: Request,
    files: list[UploadFile] = File(description="One or more .pdf, .docx, .html, .txt or .md files."),
    title: str | None = Form(None, max_length=500, description="The title (one file only)."),
    publisher: str | None = Form(None, max_length=500),
    date: str | None = Form(None, max_length=10, description="YYYY, YYYY-MM or YYYY-MM-DD."),
    url: str | None = Form(None, max_length=2000, description="The source's own http(s) address (one file only)."),
    operator: Operator = Depends(operator_required),
    assistant: Assistant = Depends(current_assistant),
) -> list[UploadedDocument]:
    """Add documents to the collection: each file's format is checked from its content, then all of
    them are added through the collection's transactional add (all or none), and the service answers
    from the new index at once."""
    _check_csrf(request, operator, None)
    settings = assistant.settings
    if len(files) > settings.max_upload_files:
        raise HTTPException(422, ui_for(request).say(N_("at most {n} files at a time"), n=settings.max_upload_files))
    uploads = [Upload(file.filename or "", await file.read()) for file in files]
    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        try:
            paths = stage(uploads, Path(folder))
            added, _ = await run_in_threadpool(
                add_documents, settings, paths, title=title or None, publisher=publisher or None, date=date or None,
                url=url or None, embedders=assistant.embedders, wait=False)
        except CollectionBusyError as error:
            raise HTTPException(409, error.render(ui_for(request).lang)) from None
        except CorpusError as error:
            raise HTTPException(422, error.render(ui_for(request).lang)) from None
    audit.record(settings.operator_audit_file, "upload", operator.by, [item.document.doc_id for item in added])
    await run_in_threadpool(assistant.refresh)
    return [UploadedDocument(doc_id=item.document.doc_id, title=item.document.metadata.title, passages=item.passages,
                             warnings=item.warnings) for item in added]


# Correcting a document's details -----------------------------------------------------------------


class DocumentChanges(BaseModel):
    """New values for some of a document's details; a detail left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=500)
    publisher: str | None = Field(None, min_length=1, max_length=500)
    date: str | None = Field(None, pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$", description="YYYY, YYYY-MM or YYYY-MM-DD.")
    url: str | None = Field(None, max_length=2000, description="The source's own http(s) address.")
    language: Language | None = None


@router.patch("/api/operator/documents/{doc_id}", tags=["operator"], responses={
    400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
    401: {"model": ErrorResponse, "description": "Not signed in."},
    403: {"model": ErrorResponse, "description": "A browser session without its CSRF token (X-CSRF-Token)."},
    404: {"model": ErrorResponse, "description": "No such document, or sign-in is off."},
    409: {"model": ErrorResponse, "description": "Another change is running."},
    422: {"model": ErrorResponse, "description": "A value refused; nothing changed."},
    503: {"model": ErrorResponse, "description": "The operator file is damaged."}})
async def edit_details(doc_id: str, changes: DocumentChanges, request: Request,
                       operator: Operator = Depends(operator_required),
                       assistant: Assistant = Depends(current_assistant)) -> OperatorDocument:
    """Correct a document's title, publisher, date, address or language; the index is updated (the
    date decides which source is the current one) and the service answers from it at once."""
    _check_csrf(request, operator, None)
    if doc_id not in assistant.index.documents:
        raise HTTPException(404, UNKNOWN_DOCUMENT)
    values = changes.model_dump(exclude_none=True)
    try:
        await run_in_threadpool(edit_document, assistant.settings, doc_id, values, embedders=assistant.embedders,
                                wait=False)
    except CollectionBusyError as error:
        raise HTTPException(409, error.render(ui_for(request).lang)) from None
    except CorpusError as error:
        raise HTTPException(422, error.render(ui_for(request).lang)) from None
    audit.record(assistant.settings.operator_audit_file, "edit", operator.by, [doc_id])
    await run_in_threadpool(assistant.refresh)
    return next(row for row in _documents(assistant) if row.doc_id == doc_id)
