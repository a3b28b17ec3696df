"""The operator's pages (`/operator...`): sign-in and sign-out, the collection as a table, upload
with the details found shown for confirmation or correction before anything is added, correction
of a document's details, removal with a confirmation step, and a change's progress. Every page
works without JavaScript (the progress page then reloads itself); every change posts the session's
CSRF token; a refusal is shown on the page it came from, in the operator's language.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from assistant.api.dependencies import current_assistant
from assistant.api.routers.operator import _changes as changes
from assistant.api.routers.operator._auth import (
    BAD_CSRF,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Operator,
    OperatorAreaOff,
    client_of,
    credentials,
    is_https,
    jobs,
    page_operator,
    pending_uploads,
    posted_form,
    sessions,
    signed_in,
    throttle,
)
from assistant.api.routers.operator.api import UNKNOWN_JOB
from assistant.api.routers.pages import page_frame, templates, ui_for
from assistant.errors import CorpusError
from assistant.i18n import N_
from assistant.ingest.corpus import Document
from assistant.ingest.formats import SUPPORTED_SUFFIXES
from assistant.languages import LANGUAGES
from assistant.operator import audit
from assistant.operator.credentials import OperatorCredentials, verify_password
from assistant.operator.uploads import PAGE_UPLOAD_PATH, TOO_MANY_FILES, Upload
from assistant.query.assistant import Assistant
from assistant.store.library import EDITABLE, checked_details


class PageRoute(APIRoute):
    """A route of the operator's pages: a refusal (403 without the CSRF token, 404, 409 while
    another change runs, ...) is a page in the operator's language with a way back, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except HTTPException as error:
                if error.status_code < 400 or isinstance(error, OperatorAreaOff):
                    raise
                ui = ui_for(request)
                assistant = request.app.state.assistant
                return templates.TemplateResponse(
                    request, "operator_refused.html",
                    {**page_frame(request, assistant, ui), "message": ui._(str(error.detail))},
                    status_code=error.status_code, headers=error.headers)

        return handler


router = APIRouter(include_in_schema=False, route_class=PageRoute)
TRAIL_WORDS = {"sign-in": N_("signed in"), "sign-out": N_("signed out"), "upload": N_("added"),
               "edit": N_("corrected"), "remove": N_("removed"), "session": N_("session"), "token": N_("token")}
"""How the operator page says the audit trail's actions and kinds of operator."""


def _page(request: Request, assistant: Assistant, template: str, status: int = 200, **context) -> Response:
    ui = ui_for(request)
    return templates.TemplateResponse(request, template, {**page_frame(request, assistant, ui), **context},
                                      status_code=status)


# Signing in and out ------------------------------------------------------------------------------


@router.get("/operator/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, found: OperatorCredentials = Depends(credentials),
                 assistant: Assistant = Depends(current_assistant)):
    return _sign_in_form(request, assistant)


def _sign_in_form(request: Request, assistant: Assistant, error: str | None = None, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    nonce = secrets.token_urlsafe(32)
    response = _page(request, assistant, "operator_sign_in.html", status, nonce=nonce, error=error)
    response.headers.update(headers or {})
    response.set_cookie(SIGN_IN_COOKIE, nonce, max_age=600, path="/operator", httponly=True, samesite="strict",
                        secure=is_https(request))
    return response


@router.post("/operator/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, found: OperatorCredentials = Depends(credentials),
                  assistant: Assistant = Depends(current_assistant)):
    """The password checked (argon2, in a worker thread); a session cookie on success."""
    ui = ui_for(request)
    form = await posted_form(request)
    nonce = request.cookies.get(SIGN_IN_COOKIE) or ""
    if not nonce or not hmac.compare_digest(nonce.encode(), form.get("nonce", "").encode("utf-8", "replace")):
        return _sign_in_form(request, assistant, ui._(BAD_CSRF), status=403)
    client, slowed = client_of(request), throttle(request)
    wait = slowed.wait(client)
    if wait > 0:
        seconds = int(wait) + 1
        return _sign_in_form(request, assistant, ui.say(N_("too many failed sign-ins: wait {seconds} s and try again"),
                                                        seconds=seconds),
                             status=429, headers={"retry-after": str(seconds)})
    if not await run_in_threadpool(verify_password, found, form.get("password", "")):
        slowed.failed(client)
        return _sign_in_form(request, assistant, ui._(N_("wrong password")), status=401)
    slowed.succeeded(client)
    session_id, _ = sessions(request).open()
    audit.record(assistant.settings.operator_audit_file, "sign-in", Operator(session_id).by)
    response = RedirectResponse(ui.url("/operator"), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, max_age=int(sessions(request).lifetime), path="/",
                        httponly=True, samesite="strict", secure=is_https(request))
    response.delete_cookie(SIGN_IN_COOKIE, path="/operator")
    return response


@router.post("/operator/sign-out")
async def sign_out(request: Request, operator: Operator | None = Depends(signed_in),
                   assistant: Assistant = Depends(current_assistant)):
    if operator is not None and operator.session is not None:
        operator.check_csrf(request, (await posted_form(request)).get("csrf"))
        sessions(request).close(operator.session_id)
        audit.record(assistant.settings.operator_audit_file, "sign-out", operator.by)
    response = RedirectResponse(ui_for(request).url("/operator/sign-in"), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# The collection ----------------------------------------------------------------------------------


@router.get("/operator", response_class=HTMLResponse)
def operator_page(request: Request, operator: Operator = Depends(page_operator),
                  assistant: Assistant = Depends(current_assistant)):
    """The collection as a table, with the recent changes."""
    assert operator.session is not None
    ui = ui_for(request)
    return _page(request, assistant, "operator.html", documents=changes.documents(assistant),
                 skipped=[(name, reason.render(ui.lang)) for name, reason in assistant.index.skipped],
                 csrf=operator.session.csrf,
                 trail=list(reversed(audit.read(assistant.settings.operator_audit_file, last=20))),
                 trail_words={key: ui._(message) for key, message in TRAIL_WORDS.items()})


def _to_job(request: Request, job_id: str) -> RedirectResponse:
    return RedirectResponse(ui_for(request).url(f"/operator/jobs/{job_id}"), status_code=303)


# Uploading: choose files, confirm or correct what was found, add ----------------------------------


def _upload_form(request: Request, assistant: Assistant, operator: Operator, error: str | None = None,
                 status: int = 200) -> Response:
    assert operator.session is not None
    settings = assistant.settings
    return _page(request, assistant, "operator_upload.html", status, csrf=operator.session.csrf, error=error,
                 formats=", ".join(SUPPORTED_SUFFIXES), max_files=settings.max_upload_files,
                 max_bytes=settings.max_upload_bytes, max_megabytes=settings.max_upload_bytes // 1_000_000,
                 too_many=ui_for(request).say(TOO_MANY_FILES, n=settings.max_upload_files))


@router.get(PAGE_UPLOAD_PATH, response_class=HTMLResponse)
def upload_page(request: Request, operator: Operator = Depends(page_operator),
                assistant: Assistant = Depends(current_assistant)):
    return _upload_form(request, assistant, operator)


@router.post(PAGE_UPLOAD_PATH, response_class=HTMLResponse)
async def upload_from_page(request: Request, operator: Operator = Depends(page_operator),
                           assistant: Assistant = Depends(current_assistant)):
    """The chosen files checked and read (nothing added yet): the details found, to confirm. The
    form is read here rather than declared: a browser sends an empty part when no file is chosen."""
    ui, limit = ui_for(request), assistant.settings.max_upload_files
    try:
        form = await request.form(max_files=limit + 1, max_fields=10)
    except (HTTPException, MultiPartException, ValueError):
        return _upload_form(request, assistant, operator,
                            ui.say(N_("the upload could not be read: choose at most {n} files and try again"), n=limit),
                            400)
    csrf = form.get("csrf")
    operator.check_csrf(request, csrf if isinstance(csrf, str) else "")
    chosen = [part for part in form.getlist("files") if isinstance(part, UploadFile) and part.filename]
    if not chosen:
        return _upload_form(request, assistant, operator, ui._(N_("choose at least one file")), 422)
    if len(chosen) > limit:
        return _upload_form(request, assistant, operator, ui.say(TOO_MANY_FILES, n=limit), 422)
    uploads = [Upload(file.filename or "", await file.read()) for file in chosen]
    try:
        previews = await run_in_threadpool(changes.preview, assistant, uploads)
    except CorpusError as error:
        return _upload_form(request, assistant, operator, error.render(ui.lang), 422)
    assert operator.session_id is not None
    pending = pending_uploads(request).put(operator.session_id, uploads, previews)
    return _preview_page(request, assistant, operator, pending.id, previews)


def _preview_page(request: Request, assistant: Assistant, operator: Operator, pending_id: str,
                  previews: list[changes.DocumentPreview], error: str | None = None,
                  given: dict[str, str] | None = None, status: int = 200) -> Response:
    assert operator.session is not None
    ui = ui_for(request)
    return _page(request, assistant, "operator_preview.html", status, csrf=operator.session.csrf, error=error,
                 pending_id=pending_id, previews=previews, given=given or {}, languages=LANGUAGES,
                 detail_names={"publisher": ui._(N_("publisher")), "date": ui._(N_("date"))})


@router.post(PAGE_UPLOAD_PATH + "/{pending_id}", response_class=HTMLResponse)
async def confirm_upload(pending_id: str, request: Request, operator: Operator = Depends(page_operator),
                         assistant: Assistant = Depends(current_assistant)):
    """Add the pending files with the details as confirmed or corrected (or drop them)."""
    form = await posted_form(request)
    operator.check_csrf(request, form.get("csrf"))
    ui = ui_for(request)
    store = pending_uploads(request)
    pending = store.get(pending_id, operator.session_id)
    if pending is None:
        return _upload_form(request, assistant, operator,
                            ui._(N_("that upload is no longer waiting (it expired or was replaced): choose the files "
                                    "again")), 410)
    if "cancel" in form:
        store.drop(pending_id)
        return RedirectResponse(ui.url("/operator"), status_code=303)
    details = [{key: form.get(f"{key}-{number}", "") for key in EDITABLE} for number in range(len(pending.uploads))]
    try:
        for values in details:
            checked_details(values)
        job = changes.start_upload(request, assistant, operator, pending.uploads, details=details)
    except CorpusError as error:
        return _preview_page(request, assistant, operator, pending_id, pending.found, error.render(ui.lang), form, 422)
    store.drop(pending_id)
    return _to_job(request, job.id)


# Correcting and removing -------------------------------------------------------------------------


def _current_details(document: Document) -> dict[str, str]:
    """The values the correction form starts from; the language is the one its text is taken to be
    in (declared, else detected), so saving the form unchanged changes nothing."""
    meta = document.metadata
    return {"title": meta.title, "publisher": meta.publisher or "", "date": meta.date or "", "url": meta.url or "",
            "language": document.language}


@router.get("/operator/documents/{doc_id}/edit", response_class=HTMLResponse)
def edit_page(doc_id: str, request: Request, operator: Operator = Depends(page_operator),
              assistant: Assistant = Depends(current_assistant)):
    return _edit_form(request, assistant, operator, doc_id)


def _edit_form(request: Request, assistant: Assistant, operator: Operator, doc_id: str, error: str | None = None,
               given: dict[str, str] | None = None, status: int = 200) -> Response:
    assert operator.session is not None
    document = changes.document_of(assistant, doc_id)
    values = {**_current_details(document), **(given or {})}
    return _page(request, assistant, "operator_edit.html", status, csrf=operator.session.csrf, error=error,
                 document=document, values=values, languages=LANGUAGES)


@router.post("/operator/documents/{doc_id}/edit", response_class=HTMLResponse)
async def edit_from_page(doc_id: str, request: Request, operator: Operator = Depends(page_operator),
                         assistant: Assistant = Depends(current_assistant)):
    """The details as the form sends them: each one that differs from the document's is changed."""
    form = await posted_form(request)
    operator.check_csrf(request, form.get("csrf"))
    current = _current_details(changes.document_of(assistant, doc_id))
    given = {key: form.get(key, "").strip() for key in EDITABLE}
    values = {key: value for key, value in given.items() if value and value != current[key]}
    try:
        checked_details(values)
    except CorpusError as error:
        return _edit_form(request, assistant, operator, doc_id, error.render(ui_for(request).lang), given, 422)
    if not values:
        return RedirectResponse(ui_for(request).url("/operator"), status_code=303)
    return _to_job(request, changes.start_edit(request, assistant, operator, doc_id, values).id)


@router.get("/operator/documents/{doc_id}/remove", response_class=HTMLResponse)
def confirm_removal(doc_id: str, request: Request, operator: Operator = Depends(page_operator),
                    assistant: Assistant = Depends(current_assistant)):
    """The confirmation step: what will go, and the button that does it."""
    assert operator.session is not None
    return _page(request, assistant, "operator_remove.html", document=changes.document_of(assistant, doc_id),
                 csrf=operator.session.csrf)


@router.post("/operator/documents/{doc_id}/remove")
async def remove_from_page(doc_id: str, request: Request, operator: Operator = Depends(page_operator),
                           assistant: Assistant = Depends(current_assistant)):
    operator.check_csrf(request, (await posted_form(request)).get("csrf"))
    return _to_job(request, changes.start_removal(request, assistant, operator, doc_id).id)


# A change's progress -----------------------------------------------------------------------------


@router.get("/operator/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, operator: Operator = Depends(page_operator),
             assistant: Assistant = Depends(current_assistant)):
    """How far the change has got; it reloads itself (or `operator.js` polls) until it is done."""
    found = jobs(request).get(job_id)
    if found is None:
        raise HTTPException(404, UNKNOWN_JOB)
    ui = ui_for(request)
    return _page(request, assistant, "operator_job.html", job=found, progress=changes.job_status(found, ui),
                 title=ui._(changes.ACTIONS[found.action]), present=set(assistant.index.documents))
